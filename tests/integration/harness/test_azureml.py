"""Azure ML through Podman: the image run as a command job (mounted inputs and outputs as arguments) and as a
custom-container online deployment (no command, the model read-only under AZUREML_MODEL_DIR, port 5001)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mldock.engine import ResourceTracker
from mldock.harness import ContractReport, TrainingJob
from mldock.harness.azureml import AzureMLHarness
from mldock.harness.checks import azureml_serving_items, azureml_training_items
from mldock.project.config import ProjectConfig
from mldock.runtime.channels import ChannelKind

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]

OUTPUTS = {"model": ChannelKind.OUTPUT_MODEL, "metrics": ChannelKind.OUTPUT}


def test_a_command_job_reads_the_mounted_input_and_fills_the_mounted_outputs(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path
) -> None:
    job = TrainingJob({"train": harness_project.root / "data" / "train"}, {"mode": "ok", "epochs": 3}, "job")
    with ResourceTracker(engine) as tracker:
        run = AzureMLHarness(engine, harness_image, workdir=workdir, tracker=tracker, timeout=300).train(
            job, outputs=OUTPUTS
        )
    assert run.exit_code == 0, run.logs
    assert "MLDOCK_" not in run.started_as
    assert "INPUT_train (ro)" in run.started_as
    assert "mode 'ok', epochs 3" in run.logs
    assert run.outputs == {"metrics": ("metrics.json",), "model": ("model.json",)}
    assert json.loads((run.output_dirs["model"] / "model.json").read_text())["rows"] == ["a.csv", "b.csv"]
    report = ContractReport("azureml", "train", harness_image, "")
    azureml_training_items(report, run, {"model"})
    assert report.passed, report.table()


def test_a_deployment_serves_the_read_only_model_on_5001_with_azures_routes(
    engine: docker.DockerClient, harness_image: str, workdir: Path
) -> None:
    model = workdir / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"rows": ["a.csv"], "mode": "ok"}))
    payload = b'{"instances": [[1, 2]]}'
    with ResourceTracker(engine) as tracker:
        harness = AzureMLHarness(engine, harness_image, workdir=workdir / "run", tracker=tracker)
        served = harness.serve(model, payload=payload)
    assert served.started_as.startswith("IMAGE (the image's default command); network none")
    assert "/var/azureml-app/azureml-models/mldock-model/1 (ro)" in served.started_as
    assert served.model_files == ("model/model.json",)
    assert json.loads(served.probe["invoke"]["body"])["predictions"] == [1]
    report = ContractReport("azureml", "serve", harness_image, "")
    azureml_serving_items(report, served)
    assert report.passed, report.table() + "\n" + served.logs[-3000:]
