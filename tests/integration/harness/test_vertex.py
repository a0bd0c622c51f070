"""Vertex AI through Podman: the image run as a CustomJob tuning trial and as a custom prediction container,
Cloud Storage played by the GCS emulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mldock.emulators import GCSEmulator
from mldock.engine import ResourceTracker
from mldock.harness import ContractReport, TrainingJob
from mldock.harness.checks import vertex_serving_items, vertex_training_items
from mldock.harness.vertex import VertexHarness, prediction_routes
from mldock.project.config import ProjectConfig

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]

PAYLOAD = b'{"instances": [[1, 2], [3, 4], [5, 6]]}'


@pytest.fixture(scope="module")
def gcs() -> Iterator[GCSEmulator]:
    with GCSEmulator() as emulator:
        yield emulator


def harness(
    engine: docker.DockerClient, image: str, workdir: Path, tracker: ResourceTracker, gcs: GCSEmulator
) -> VertexHarness:
    bucket = f"vertex-{uuid.uuid4().hex[:12]}"  # one bucket per test: the emulator is the module's
    return VertexHarness(engine, image, workdir=workdir, tracker=tracker, gcs=gcs, bucket=bucket, timeout=300)


def test_a_tuning_trial_gets_its_args_and_leaves_the_model_in_aip_model_dir_and_the_metric_for_hypertune(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path, gcs: GCSEmulator
) -> None:
    job = TrainingJob({"train": harness_project.root / "data" / "train"}, {"mode": "ok", "epochs": 3}, "trial")
    with ResourceTracker(engine) as tracker:
        run = harness(engine, harness_image, workdir, tracker, gcs).train(job)
    assert run.exit_code == 0, run.logs
    assert run.started_as.startswith("IMAGE --mode=ok --epochs=3; network host")
    assert "MLDOCK_" not in run.started_as
    assert "mode 'ok', epochs 3" in run.logs  # the args are typed hyperparameters
    assert run.model_objects == ("model.json",)
    assert json.loads(run.hypertune_lines[0])["rows"] in ("2", "2.0", 2)
    assert run.metrics_logged == len(run.hypertune_lines) == 1
    report = ContractReport("vertex", "train", harness_image, "")
    vertex_training_items(report, run, {"model"})
    assert report.passed, report.table()


def test_a_failing_trial_fails_the_exit_item_with_the_reason(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path, gcs: GCSEmulator
) -> None:
    job = TrainingJob({"train": harness_project.root / "data" / "train"}, {"mode": "fail"}, "failing")
    with ResourceTracker(engine) as tracker:
        run = harness(engine, harness_image, workdir, tracker, gcs).train(job)
    report = ContractReport("vertex", "train", harness_image, "")
    vertex_training_items(report, run, {"model"})
    assert [item.name for item in report.failed] == ["train.exit"]  # the model was written before the failure
    assert "deliberate failure" in report.failed[0].evidence


def test_what_a_job_writes_through_gcs_reaches_the_bucket_as_cloud_storage_fuse_would_have_written_it(
    engine: docker.DockerClient, harness_image: str, harness_project: ProjectConfig, workdir: Path, gcs: GCSEmulator
) -> None:
    job = TrainingJob({"train": harness_project.root / "data" / "train"}, {"mode": "fuse"}, "fuse")
    with ResourceTracker(engine) as tracker:
        run = harness(engine, harness_image, workdir, tracker, gcs).train(job)
    assert run.exit_code == 0, run.logs
    assert run.fuse_objects == ("fuse/1/model/through-fuse.txt",)  # the dataset, already there, is not copied back
    assert run.model_objects == ("model.json", "through-fuse.txt")


@pytest.mark.parametrize("equal", [False, True], ids=["vertex-routes", "equal-routes"])
def test_prediction_copies_the_model_from_aip_storage_uri_and_answers_on_its_port_and_routes(
    engine: docker.DockerClient, harness_image: str, workdir: Path, gcs: GCSEmulator, equal: bool
) -> None:
    model = workdir / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({"rows": ["a.csv", "b.csv"], "mode": "ok"}))
    health, predict = prediction_routes()
    routes = (health, health) if equal else (health, predict)
    with ResourceTracker(engine) as tracker:
        vertex = harness(engine, harness_image, workdir / "run", tracker, gcs)
        uri = vertex.upload_model(model)
        served = vertex.serve(uri, payload=PAYLOAD, routes=routes)
    assert served.started_as.startswith("IMAGE (the image's default command); network host")
    assert "AIP_HTTP_PORT=8080" not in served.started_as
    assert served.model_files == ("model.json",)
    assert json.loads(served.probe["invoke"]["body"])["predictions"] == [2, 2, 2]
    report = ContractReport("vertex", "serve", harness_image, "")
    vertex_serving_items(report, served, PAYLOAD)
    assert report.passed, report.table() + "\n" + served.logs[-3000:]
