"""SageMaker training through Podman: the image run as SageMaker runs it, on success, failure and stop."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mldock.engine import ResourceTracker
from mldock.harness import ContractReport, SageMakerHarness, TrainingJob, TrainingRun
from mldock.harness.checks import stopped_training_items, training_items
from mldock.project.config import ProjectConfig

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]


def train(engine: docker.DockerClient, image: str, project: ProjectConfig, workdir: Path, **job: object) -> TrainingRun:
    hyperparameters = {"mode": job.pop("mode", "ok"), "epochs": 3}
    with ResourceTracker(engine) as tracker:
        harness = SageMakerHarness(engine, image, workdir=workdir, tracker=tracker, timeout=300)
        return harness.train(TrainingJob({"train": project.root / "data" / "train"}, hyperparameters, **job))  # type: ignore[arg-type]


def members(archive: Path | None) -> list[str]:
    assert archive is not None
    with tarfile.open(archive) as tar:
        return sorted(tar.getnames())


def test_training_reads_sagemakers_layout_and_leaves_what_sagemaker_packs(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path
) -> None:
    run = train(engine, harness_image, harness_project, workdir)
    assert run.exit_code == 0, run.logs
    assert members(run.model_tar) == ["model.json"]  # at the top level: what hosting unpacks into /opt/ml/model
    with tarfile.open(run.model_tar) as tar:
        model = json.load(tar.extractfile("model.json"))  # type: ignore[arg-type]
    assert model == {"rows": ["a.csv", "b.csv"], "mode": "ok"}  # the JSON-quoted '"ok"' arrived unquoted
    assert members(run.output_tar) == ["metrics", "metrics/metrics.json"]
    assert run.failure_text is None
    assert "mode 'ok', epochs 3" in run.logs
    assert "MLDOCK_" not in run.started_as
    report = ContractReport("sagemaker", "train", harness_image, "")
    training_items(report, run, {"model"})
    assert report.passed, report.table()


def test_a_failing_step_writes_the_failure_file_sagemaker_reads(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path
) -> None:
    run = train(engine, harness_image, harness_project, workdir, mode="fail")
    assert run.exit_code == 1, run.logs
    text = run.failure_text  # the first 1024 characters, as SageMaker shows them
    assert text is not None
    first, second, third = text.splitlines()[:3]
    assert first.startswith("ValueError: deliberate failure: the data is bad xxx")
    assert len(first) <= 512
    assert (second, third) == ("phase: step", "exit code: 1")
    assert members(run.model_tar) == ["model.json"]  # written before the failure: still packed
    report = ContractReport("sagemaker", "train", harness_image, "")
    training_items(report, run, {"model"})
    assert [item.name for item in report.failed] == ["train.exit"]  # every other item holds after a failure


def test_sigterm_while_the_step_runs_exits_before_the_deadline_with_outputs_packed(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path
) -> None:
    run = train(engine, harness_image, harness_project, workdir, mode="sleep", stop_when_logged="sleeping")
    assert run.exit_code == 143, run.logs
    assert run.stopped_after is not None
    assert members(run.model_tar) == ["model.json"]  # written before the stop: packed
    assert run.failure_text is not None
    assert run.failure_text.startswith("terminated by SIGTERM\nphase: step\nexit code: 143\n")
    report = ContractReport("sagemaker", "train", harness_image, "")
    stopped_training_items(report, run, 120.0)
    assert report.passed, report.table()
