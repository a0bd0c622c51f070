"""The real entrypoint started as Vertex AI and Azure ML start an image: no task argument, the platform's own
variables and arguments, no MLDOCK_* channel variable; Vertex AI's data and model in the GCS emulator
(pytest_mldock's `gcs_emulator`), Azure ML's model and job folders as the mounts it gives."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mldock.emulators import Emulator
from mldock.storage import parse_uri

pytestmark = pytest.mark.integration

TRAINER = """
import json

def train(env):
    hp = env.hyperparameters
    rows = sorted(p.name for p in (env.input_data_dir / "train").iterdir())
    model = env.channel("model", __import__("mldock").ChannelKind.OUTPUT_MODEL).path
    (model / "model.json").write_text(json.dumps({
        "learning_rate": hp.get("learning_rate", float),
        "layers": hp.get("layers", int),
        "rows": rows,
        "validation": sorted(p.name for p in (env.input_data_dir / "validation").iterdir()),
    }))
    (env.output_dir / "checkpoints" / "step-1.ckpt").write_text("ckpt")
    (env.output_dir / "tensorboard" / "events.out").write_text("events")
    metrics = env.channel("metrics", __import__("mldock").ChannelKind.OUTPUT).path
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "metrics.json").write_text(json.dumps({"rows": len(rows)}))
"""

PREDICTOR = """
import json
from mldock import ChannelKind
from mldock.runtime.instances import InstancesPredictor

class Predictor(InstancesPredictor):
    def __init__(self, env):
        folder = env.channel("model", ChannelKind.INPUT_MODEL).path
        self.scale = json.loads((folder / "model.json").read_text())["scale"]

    def predict_instances(self, instances, parameters):
        return [x * self.scale for x in instances]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_environ() -> dict[str, str]:
    prefixes = ("MLDOCK_", "AIP_", "AZUREML_", "CLOUD_ML_", "TRAINING_JOB_NAME")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "trainer.py").write_text(TRAINER)
    (root / "predictor.py").write_text(PREDICTOR)
    return root


def _entrypoint(*args: str) -> list[str]:
    return [sys.executable, "-m", "mldock.runtime.entrypoint", *args]


def _gcs_tree(emulator: Emulator, uri: str, folder: Path) -> dict[str, bytes]:
    emulator.remote().download(parse_uri(uri), folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def bucket(gcs_emulator: Emulator, tmp_path: Path) -> str:
    name = f"vertex-{uuid.uuid4().hex[:12]}"
    gcs_emulator.create_bucket(name)
    seed = tmp_path / "seed"
    for key, text in {
        "dataset/training-00000-of-00002.csv": "x\n1\n",
        "dataset/training-00001-of-00002.csv": "x\n2\n",
        "dataset/validation-00000-of-00001.csv": "x\n3\n",
        "dataset/test-00000-of-00001.csv": "x\n4\n",
        "model/model.json": '{"scale": 3}',
    }.items():
        (seed / key).parent.mkdir(parents=True, exist_ok=True)
        (seed / key).write_text(text)
    gcs_emulator.remote().upload(seed, parse_uri(f"gs://{name}"))
    return name


def test_vertex_training_with_tuning_arguments_and_no_task(gcs_emulator: Emulator, bucket: str, tmp_path: Path) -> None:
    environ = {
        **_clean_environ(),
        **gcs_emulator.env(),
        "MLDOCK_BASE_DIR": str(tmp_path / "ml"),
        "MLDOCK_PROJECT_DIR": str(_project(tmp_path / "project")),
        "CLOUD_ML_JOB_ID": "4711",
        "CLOUD_ML_TRIAL_ID": "3",
        "AIP_DATA_FORMAT": "csv",
        "AIP_TRAINING_DATA_URI": f"gs://{bucket}/dataset/training-*",
        "AIP_VALIDATION_DATA_URI": f"gs://{bucket}/dataset/validation-*",
        "AIP_TEST_DATA_URI": f"gs://{bucket}/dataset/test-*",
        "AIP_MODEL_DIR": f"gs://{bucket}/out/3/model/",
        "AIP_CHECKPOINT_DIR": f"gs://{bucket}/out/3/checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": f"gs://{bucket}/out/3/logs/",
    }
    result = subprocess.run(
        _entrypoint("--learning_rate=0.1", "--layers", "3"),
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "task: train (CLOUD_ML_JOB_ID is set (Vertex AI training))" in result.stderr
    assert "setup: Vertex AI training job 4711 trial 3" in result.stderr
    outputs = _gcs_tree(gcs_emulator, f"gs://{bucket}/out/3", tmp_path / "read-back")
    assert json.loads(outputs.pop("model/model.json")) == {
        "learning_rate": 0.1,
        "layers": 3,
        "rows": ["training-00000-of-00002.csv", "training-00001-of-00002.csv"],  # only the matching objects
        "validation": ["validation-00000-of-00001.csv"],
    }
    assert outputs == {
        "checkpoints/step-1.ckpt": b"ckpt",
        "logs/events.out": b"events",
        "metrics/metrics.json": b'{"rows": 2}',  # an output channel no variable sets: beside model/
    }


def test_vertex_bigquery_data_is_refused_with_exit_2(tmp_path: Path) -> None:
    environ = {
        **_clean_environ(),
        "MLDOCK_BASE_DIR": str(tmp_path / "ml"),
        "MLDOCK_PROJECT_DIR": str(_project(tmp_path / "project")),
        "AIP_DATA_FORMAT": "bigquery",
        "AIP_TRAINING_DATA_URI": "bq://project.dataset.table",
    }
    result = subprocess.run(_entrypoint(), env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    failure = (tmp_path / "ml" / "output" / "failure").read_text()
    assert failure.startswith("ChannelError: AIP_TRAINING_DATA_URI: 'bq://project.dataset.table' is a BigQuery table")
    assert "Traceback" not in result.stderr


class Endpoint:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.port = process, port

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited ({self.process.returncode}): {self.process.communicate()[1]}")
            try:
                if self.request("GET", path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{path} never answered 200")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        _, stderr = self.process.communicate(timeout=60)
        return stderr


@pytest.fixture
def serve_with_no_task(tmp_path: Path) -> Iterator[list[Endpoint]]:
    started: list[Endpoint] = []
    yield started
    for endpoint in started:
        if endpoint.process.poll() is None:
            endpoint.process.kill()
            endpoint.process.communicate()


def test_vertex_prediction_equal_routes_and_model_from_aip_storage_uri(
    gcs_emulator: Emulator, bucket: str, tmp_path: Path, serve_with_no_task: list[Endpoint]
) -> None:
    port, route = _free_port(), "/v1/endpoints/e1/deployedModels/m1"
    environ = {
        **_clean_environ(),
        **gcs_emulator.env(),
        "MLDOCK_BASE_DIR": str(tmp_path / "ml"),
        "MLDOCK_PROJECT_DIR": str(_project(tmp_path / "project")),
        "MLDOCK_SERVE_HOST": "127.0.0.1",
        "AIP_MODE": "PREDICTION",
        "AIP_HTTP_PORT": str(port),
        "AIP_HEALTH_ROUTE": route,
        "AIP_PREDICT_ROUTE": route,
        "AIP_STORAGE_URI": f"gs://{bucket}/model",
    }
    process = subprocess.Popen(_entrypoint(), env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    endpoint = Endpoint(process, port)
    serve_with_no_task.append(endpoint)
    endpoint.wait_ready(route)
    status, body = endpoint.request("POST", route, b'{"instances": [1, 2], "parameters": {}}')
    assert (status, json.loads(body)) == (200, {"predictions": [3, 6]})
    status, body = endpoint.request("POST", route, b'{"inputs": [1]}')
    assert status == 400
    assert 'no "instances" key' in json.loads(body)["error"]
    assert endpoint.request("POST", "/invocations", b'{"instances": [5]}') == (200, b'{"predictions": [15]}')
    assert endpoint.request("PUT", route, b"{}")[0] == 405
    stderr = endpoint.stop()
    assert process.returncode == 0, stderr
    assert "task: serve (AIP_MODE=PREDICTION (Vertex AI prediction))" in stderr
    assert f"downloading input_model channel 'model': gs://{bucket}/model" in stderr


def test_azureml_online_deployment_reads_the_mounted_model_on_azure_routes(
    tmp_path: Path, serve_with_no_task: list[Endpoint]
) -> None:
    mount = tmp_path / "var/azureml-app/azureml-models/scaler/1"
    (mount / "model").mkdir(parents=True)  # a model registered from a folder called "model"
    (mount / "model" / "model.json").write_text('{"scale": 5}')
    for folder in (mount / "model", mount):
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only, as Azure mounts it
    port = _free_port()
    environ = {
        **_clean_environ(),
        "MLDOCK_BASE_DIR": str(tmp_path / "ml"),
        "MLDOCK_PROJECT_DIR": str(_project(tmp_path / "project")),
        "MLDOCK_SERVE_HOST": "127.0.0.1",
        "MLDOCK_SERVE_PORT": str(port),  # Azure's 5001 would collide with parallel tests
        "AZUREML_MODEL_DIR": str(mount),
    }
    try:
        process = subprocess.Popen(
            _entrypoint(), env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        endpoint = Endpoint(process, port)
        serve_with_no_task.append(endpoint)
        endpoint.wait_ready("/ping")
        assert json.loads(endpoint.request("GET", "/")[1]) == {"status": "alive", "ready": True}
        assert endpoint.request("POST", "/score", b'{"instances": [2]}') == (200, b'{"predictions": [10]}')
        assert endpoint.request("POST", "/invocations", b'{"instances": [1]}') == (200, b'{"predictions": [5]}')
        stderr = endpoint.stop()
    finally:
        for folder in (mount, mount / "model"):
            folder.chmod(stat.S_IRWXU)
    assert process.returncode == 0, stderr
    assert "task: serve (AZUREML_MODEL_DIR is set (Azure ML online deployment))" in stderr
    assert f"setup: Azure ML online deployment, model mounted at {mount}" in stderr
    assert sorted(p.name for p in mount.rglob("*")) == ["model", "model.json"]  # nothing written to the mount


def test_azureml_command_job_channels_and_hyperparameters_as_arguments(tmp_path: Path) -> None:
    inputs, outputs = tmp_path / "mnt/inputs/train", tmp_path / "mnt/outputs"
    inputs.mkdir(parents=True)
    (inputs / "training-0.csv").write_text("x\n1\n")
    (tmp_path / "mnt/inputs/validation").mkdir()
    (tmp_path / "mnt/inputs/validation/v.csv").write_text("x\n2\n")
    for name in ("model", "checkpoints", "tensorboard", "metrics"):
        (outputs / name).mkdir(parents=True)
    environ = {
        **_clean_environ(),
        "MLDOCK_BASE_DIR": str(tmp_path / "ml"),
        "MLDOCK_PROJECT_DIR": str(_project(tmp_path / "project")),
    }
    argv = [
        "train",
        "--input-channel",
        f"train={inputs}",
        f"--input-channel=validation={tmp_path / 'mnt/inputs/validation'}",
        "--output-model-channel",
        f"model={outputs / 'model'}",
        "--output-channel",
        f"checkpoints={outputs / 'checkpoints'}",
        "--output-channel",
        f"tensorboard={outputs / 'tensorboard'}",
        f"--output-channel=metrics={outputs / 'metrics'}",
        "--learning_rate",
        "0.5",
        "--layers=2",
    ]
    result = subprocess.run(_entrypoint(*argv), env=environ, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads((outputs / "model" / "model.json").read_text()) == {
        "learning_rate": 0.5,
        "layers": 2,
        "rows": ["training-0.csv"],
        "validation": ["v.csv"],
    }
    assert (outputs / "checkpoints" / "step-1.ckpt").read_text() == "ckpt"
    assert (outputs / "metrics" / "metrics.json").read_text() == '{"rows": 1}'
