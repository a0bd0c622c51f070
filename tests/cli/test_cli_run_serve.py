"""`mldock run train`, `serve`, `predict`, `build`, `base-image` as processes, on the examples: emulated
GCS/S3/Azure started, seeded and stopped by the CLI, exit code = the task's, outputs fetched."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, LOCAL_BASE_IMAGE, REPO, Mldock, assert_plain_error, run_mldock

pytestmark = pytest.mark.integration
TRAIN = str(EXAMPLES / "sklearn-train")
SERVE = str(EXAMPLES / "sklearn-serve")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One dev-stage training run of examples/sklearn-train with the process runner: (summary, output dir)."""
    out = tmp_path_factory.mktemp("run") / "out"
    result = run_mldock(
        "run", "train", "--stage", "dev", "--project", TRAIN, "--runner", "process", "--json",
        "-o", str(out), "-p", "n_estimators=7", "-p", "max_depth=null", "-e", "LOG_LEVEL=info",
        "-e", 'MLDOCK_HYPERPARAMETERS={"random_state": 3}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout), out


def test_run_train_seeds_runs_and_fetches_outputs(trained: tuple[dict[str, Any], Path]) -> None:
    summary, out = trained
    assert summary["exit_code"] == 0
    assert summary["succeeded"] is True
    assert summary["seeded"] == [
        {"channel": "train", "files": 1, "folder": f"{TRAIN}/data/train", "uri": "gs://wine-data/train"}
    ]
    assert summary["outputs"]["model/model"]["uri"] == "s3://wine-models/model"
    assert summary["outputs"]["output/metrics"]["uri"] == "az://wine-metrics/metrics"
    assert sorted(p.name for p in (out / "model" / "model").iterdir()) == ["model.joblib", "signature.json"]
    metrics = json.loads((out / "output" / "metrics" / "metrics.json").read_text())
    assert metrics["hyperparameters"]["n_estimators"] == 7  # -p overrides the stage
    assert metrics["hyperparameters"]["max_depth"] is None  # JSON null, not the string "null"
    assert metrics["hyperparameters"]["test_size"] == 0.25  # the stage's value is kept
    assert json.loads((out / "result.json").read_text())["exit_code"] == 0
    assert "mldock: train: finished" in (out / "logs.txt").read_text()


def test_the_report_says_which_hyperparameters_the_task_received(trained: tuple[dict[str, Any], Path]) -> None:
    summary, out = trained
    metrics = json.loads((out / "output" / "metrics" / "metrics.json").read_text())
    assert metrics["hyperparameters"]["random_state"] == 3  # from -e MLDOCK_HYPERPARAMETERS
    for reported in (summary["hyperparameters"], json.loads((out / "result.json").read_text())["hyperparameters"]):
        assert {k: reported[k] for k in metrics["hyperparameters"]} == metrics["hyperparameters"]


def test_json_reports_a_user_error_too(mldock: Mldock) -> None:
    result = mldock("run", "train", "--project", TRAIN, "--runner", "process", "--json", "-e", "INPUT_CHANNEL_X=ftp://h/x")
    assert result.returncode == 2
    summary = json.loads(result.stdout)
    assert summary["ok"] is False
    assert summary["exit_code"] == 2
    assert "MLDOCK_INPUT_CHANNEL_X" in summary["error"]
    assert "MLDOCK_INPUT_CHANNEL_X" in result.stderr  # the plain message as well


def test_a_failing_task_gives_its_exit_code_and_reason(mldock: Mldock, tmp_path: Path) -> None:
    result = mldock(
        "run", "train", "--project", TRAIN, "--runner", "process", "--json", "-o", str(tmp_path / "o"),
        "-p", "test_size=2.5",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]  # a bad hyperparameter is the user's error
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == 2
    assert summary["succeeded"] is False
    assert "test_size" in summary["failure_reason"]
    assert summary["outputs"]["output/metrics"]["files"] == 1  # run.json: cleanup uploads after a failure too


def test_text_output_and_default_output_folder(mldock: Mldock, tmp_path: Path) -> None:
    result = mldock("run", "train", "--project", TRAIN, "--runner", "process", "-q", "-p", "n_estimators=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train succeeded" in result.stdout
    runs = list((tmp_path / ".mldock" / "runs").iterdir())
    assert len(runs) == 1
    assert runs[0].name.startswith("dev-")
    assert (runs[0] / "model" / "model" / "model.joblib").is_file()
    assert "seeded train: 1 file(s)" in result.stdout
    assert "━" not in result.stderr  # -q and no terminal: no progress bar


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_and_predict(trained: tuple[dict[str, Any], Path], mldock: Mldock, tmp_path: Path) -> None:
    _, out = trained
    port = _free_port()
    url = f"http://127.0.0.1:{port}/invocations"
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "mldock.cli.main", "serve", "--stage", "dev", "--project", SERVE,
         "--runner", "process", "--port", str(port), "--model", str(out / "model" / "model")],
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert f"at http://127.0.0.1:{port}/invocations" in line, (tmp_path / "serve.log").read_text()[-3000:]
        answer = mldock("predict", "--payload", f"{SERVE}/payloads/wine.json", "--url", url)
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["predictions"] == ["class_0", "class_1", "class_2"]
        payload = f"{SERVE}/payloads/wine.csv"
        csv = mldock("predict", "--payload", payload, "--accept", "text/csv", "--url", url, "--json")
        assert csv.returncode == 0, csv.stderr
        assert json.loads(csv.stdout)["body"].split() == ["class_0", "class_1", "class_2"]
        bad = tmp_path / "bad.json"
        bad.write_text('{"instances": [[1, 2]]}')
        refused = mldock("predict", "--payload", str(bad), "--url", url)
        assert refused.returncode == 1
        assert "needs 13 features" in refused.stdout
        assert "the endpoint answered 400" in refused.stderr
    finally:
        serve.send_signal(signal.SIGINT)
        code = serve.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_serve_on_a_taken_port_is_a_plain_error(mldock: Mldock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = mldock("serve", "--project", SERVE, "--runner", "process", "--port", str(port))
    assert_plain_error(result, 2, f"cannot listen on 127.0.0.1:{port}")


def test_serve_model_needs_a_model_channel(mldock: Mldock, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    project = tmp_path / "p"
    project.mkdir()
    (project / "mldock.json").write_text(json.dumps({"name": "p", "stages": {"dev": {}}}))
    result = mldock("serve", "--project", str(project), "--runner", "process", "--model", str(tmp_path / "m"))
    assert_plain_error(result, 2, "--model DIR needs a stage with exactly one input model channel")


def _engine_env() -> dict[str, str]:
    socket_path = Path("/run/mldock/podman.sock")
    if "DOCKER_HOST" not in os.environ and socket_path.exists():
        return {"DOCKER_HOST": f"unix://{socket_path}"}
    return {}


@pytest.mark.engine
def test_base_image_build_and_run_train_on_the_docker_runner(mldock: Mldock, tmp_path: Path) -> None:
    env = _engine_env()
    base = mldock("base-image", "--json", env=env, timeout=1800)
    assert base.returncode == 0, base.stderr[-3000:]
    assert json.loads(base.stdout)["tag"] == LOCAL_BASE_IMAGE

    first = mldock("build", "--project", TRAIN, "--json", env=env, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    built = json.loads(first.stdout)
    assert built["tag"].startswith("localhost/mldock/sklearn-train:")
    again = mldock("build", "--project", TRAIN, "--json", env=env)
    assert json.loads(again.stdout) | {"duration": 0} == built | {"rebuilt": False, "duration": 0}

    run = mldock("run", "train", "--stage", "dev", "--project", TRAIN, "--json", "-o", str(tmp_path / "o"), env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(run.stdout)
    assert summary["runner"] == "docker"
    assert summary["outputs"]["model/model"]["files"] == 2
    assert json.loads((tmp_path / "o" / "output" / "metrics" / "metrics.json").read_text())["accuracy"] > 0.85
    assert str(REPO) not in summary["outputs"]["model/model"]["path"]
