"""SageMaker hosting through Podman: model.tar.gz from a SageMaker-style training run, served read-only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mldock.engine import ResourceTracker
from mldock.harness import ContractReport, SageMakerHarness, TrainingJob
from mldock.harness.checks import serving_items
from mldock.harness.sagemaker import pack
from mldock.project.config import ProjectConfig

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]


def test_the_trained_model_is_served_on_a_read_only_opt_ml_with_no_network(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path
) -> None:
    with ResourceTracker(engine) as tracker:
        harness = SageMakerHarness(engine, harness_image, workdir=workdir, tracker=tracker, timeout=300)
        trained = harness.train(TrainingJob({"train": harness_project.root / "data" / "train"}))
        assert trained.exit_code == 0, trained.logs
        served = harness.serve(trained.model_tar, payload=b'{"instances": [[1, 2]]}', content_type="application/json")
    assert served.network_mode == "none"
    assert served.model_files == ("model.json",)
    answer = json.loads(served.probe["invoke"]["body"])
    assert answer == {
        "predictions": [2],
        "rows": 2,
        "content_type": "application/json",
        "attributes": "mldock-contract=1",
    }
    assert served.exit_code == 0, served.logs
    assert "setup: SageMaker hosting" in served.logs
    report = ContractReport("sagemaker", "serve", harness_image, "")
    serving_items(report, served)
    assert report.passed, report.table()


def test_a_model_that_cannot_load_fails_the_ping_item_with_the_log(
    engine: docker.DockerClient, harness_image: str, workdir: Path
) -> None:
    empty = workdir / "empty-model"
    empty.mkdir()
    (empty / "README").write_text("no model.json here")
    with ResourceTracker(engine) as tracker:
        harness = SageMakerHarness(engine, harness_image, workdir=workdir / "run", tracker=tracker)
        served = harness.serve(pack(empty, workdir / "model.tar.gz"), payload=b"{}", content_type="application/json")
    report = ContractReport("sagemaker", "serve", harness_image, "")
    serving_items(report, served)
    failed = {item.name for item in report.failed}
    assert {"serve.ping", "serve.invocations", "serve.ping-while-busy"} <= failed
    ping = next(item for item in report.items if item.name == "serve.ping")
    assert "model.json" in ping.evidence  # the log tail says what went wrong
