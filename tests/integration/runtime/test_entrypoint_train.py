"""`mldock-entrypoint train` end to end, as a subprocess over a temporary base dir with file:// channels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent

TRAINER = """
import json, os, signal, sys, time
from pathlib import Path

def train(env):
    out = env.output_dir / "metrics"
    model = env.model_dir / "model"
    data = (env.input_data_dir / "train" / "rows" / "data.csv").read_bytes()
    (out / "hyperparameters.json").write_text(json.dumps(dict(env.hyperparameters)))
    (out / "copy.csv").write_bytes(data)
    (model / "weights.bin").write_bytes(bytes(range(256)) * 64)
    mode = env.hyperparameters.get("mode", str, default="ok")
    if mode == "fail":
        raise ValueError("learning rate must be positive")
    if mode == "user-error":
        from mldock import HyperparameterError
        raise HyperparameterError("epochs must be at least 1")
    if mode == "exit-7":
        os._exit(7)
    if mode in ("sigterm", "ignore-sigterm"):
        def stop(signum, frame):
            (out / "got-signal.txt").write_text(signal.Signals(signum).name)
            sys.exit(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "ignore-sigterm" else stop)
        (env.base_dir / "running").write_text("yes")
        while True:
            time.sleep(0.05)
"""

ASSETS = """
from mldock import TrainingContainer, on_startup, on_cleanup

class Training(TrainingContainer):
    @on_startup(stages=["dev"])
    def seed_sample_data(self) -> None:
        (self.env.output_dir / "metrics" / "seeded-in-dev.txt").write_text("dev")

    @on_startup(stages=["slow"])
    def wait_forever(self) -> None:
        import time
        (self.env.base_dir / "running").write_text("yes")
        while True:
            time.sleep(0.05)

    @on_cleanup(stages=["test"])
    def verify_outputs(self) -> None:
        (self.env.output_dir / "metrics" / "verified-in-test.txt").write_text("test")
"""


@dataclass
class Run:
    code: int
    stderr: str
    base: Path
    store: Path

    @property
    def failure(self) -> str | None:
        path = self.base / "output" / "failure"
        return path.read_text() if path.exists() else None


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "trainer.py").write_text(TRAINER)
    (root / "assets.py").write_text(ASSETS)
    (root / "mldock.json").write_text(json.dumps({"name": "demo", "train": "trainer:train", "stages": {}}))
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "data" / "rows").mkdir(parents=True)
    (root / "data" / "rows" / "data.csv").write_bytes(b"a,b\n" + os.urandom(4096))
    (root / "results").mkdir()
    return root


def _environ(project: Path, store: Path, base: Path, **extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLDOCK_")}
    environ |= {
        "MLDOCK_BASE_DIR": str(base),
        "MLDOCK_PROJECT_DIR": str(project),
        "MLDOCK_INPUT_CHANNEL_TRAIN": f"file://{store}/data",
        "MLDOCK_OUTPUT_CHANNEL_METRICS": f"file://{store}/results/metrics",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": f"file://{store}/results/model",
        **extra,
    }
    return environ


@pytest.fixture
def run(project: Path, store: Path, tmp_path: Path) -> Callable[..., Run]:
    def run_train(*, command: list[str] | None = None, **extra: str) -> Run:
        base = tmp_path / "base"
        result = subprocess.run(
            command or [sys.executable, "-m", "mldock.runtime.entrypoint", "train"],
            env=_environ(project, store, base, **extra),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Run(result.returncode, result.stderr, base, store)

    return run_train


def _hp(**values: object) -> str:
    return json.dumps(values)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(None, id="python-m-entrypoint"),
        pytest.param([str(VENV_BIN / "mldock-entrypoint"), "train"], id="console-script"),
        pytest.param([sys.executable, "-m", "mldock", "train"], id="python-m-mldock"),
    ],
)
def test_success_downloads_inputs_and_uploads_outputs_byte_for_byte(
    run: Callable[..., Run], store: Path, command: list[str] | None
) -> None:
    result = run(command=command, MLDOCK_HYPERPARAMETERS=_hp(epochs="3", lr=0.1))
    assert result.code == 0, result.stderr
    assert result.failure is None
    assert (store / "results" / "metrics" / "copy.csv").read_bytes() == (
        store / "data" / "rows" / "data.csv"
    ).read_bytes()
    assert (store / "results" / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 64
    assert json.loads((store / "results" / "metrics" / "hyperparameters.json").read_text()) == {
        "epochs": "3",
        "lr": 0.1,
    }
    assert "mldock: startup:" in result.stderr
    assert "mldock: cleanup:" in result.stderr


def test_hyperparameters_file_is_overlaid_by_the_variable(run: Callable[..., Run], tmp_path: Path, store: Path) -> None:
    config = tmp_path / "base" / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(_hp(epochs=1, batch=32))
    assert run(MLDOCK_HYPERPARAMETERS=_hp(epochs=5)).code == 0
    seen = json.loads((store / "results" / "metrics" / "hyperparameters.json").read_text())
    assert seen == {"epochs": 5, "batch": 32}


def test_failing_step_writes_failure_and_still_uploads_partial_outputs(run: Callable[..., Run], store: Path) -> None:
    result = run(MLDOCK_HYPERPARAMETERS=_hp(mode="fail"))
    assert result.code == 1
    assert result.failure is not None
    assert result.failure.splitlines()[0] == "ValueError: learning rate must be positive"
    assert "Traceback" in result.failure
    assert (store / "results" / "metrics" / "copy.csv").exists()
    assert (store / "results" / "model" / "weights.bin").exists()


@pytest.mark.parametrize(
    ("extra", "first_line"),
    [
        pytest.param({"MLDOCK_INPUT_CHANNEL_": "file:///x"}, "ChannelError: MLDOCK_INPUT_CHANNEL_:", id="channel"),
        pytest.param({"MLDOCK_HYPERPARAMETERS": "[1]"}, "HyperparameterError: MLDOCK_HYPERPARAMETERS:", id="hp"),
        pytest.param({"MLDOCK_STAGE": "Prod"}, "StageError: MLDOCK_STAGE:", id="stage"),
        pytest.param({"MLDOCK_TRAIN": "missing_module:train"}, "AssetsError: MLDOCK_TRAIN:", id="step-not-found"),
        pytest.param({"MLDOCK_TRAIN": "trainer:nope"}, "AssetsError: MLDOCK_TRAIN:", id="function-not-found"),
        pytest.param(
            {"MLDOCK_HYPERPARAMETERS": _hp(mode="user-error")},
            "HyperparameterError: epochs must be at least 1",
            id="user-error-in-step",
        ),
    ],
)
def test_user_errors_exit_2(run: Callable[..., Run], extra: dict[str, str], first_line: str) -> None:
    result = run(**extra)
    assert result.code == 2, result.stderr
    assert result.failure is not None
    assert result.failure.splitlines()[0].startswith(first_line)


def test_missing_input_is_a_storage_error_exit_3_without_running_the_step(run: Callable[..., Run], store: Path) -> None:
    result = run(MLDOCK_INPUT_CHANNEL_TRAIN=f"file://{store}/absent")
    assert result.code == 3
    assert result.failure is not None
    assert result.failure.startswith("RemoteNotFoundError:")
    assert not (store / "results" / "metrics").exists()


def test_failing_upload_after_success_exits_3(run: Callable[..., Run], store: Path) -> None:
    result = run(MLDOCK_OUTPUT_CHANNEL_METRICS=f"file://{store}/no-bucket/metrics")
    assert result.code == 3
    assert result.failure is not None
    assert "phase: cleanup" in result.failure
    assert (store / "results" / "model" / "weights.bin").exists()


def test_a_crashed_step_without_exception_exits_1(run: Callable[..., Run]) -> None:
    result = run(MLDOCK_HYPERPARAMETERS=_hp(mode="exit-7"))
    assert result.code == 1
    assert result.failure is not None
    assert result.failure.splitlines()[0] == "the training step exited with code 7"


@pytest.mark.parametrize(
    ("stage", "present", "absent"),
    [
        pytest.param("dev", "seeded-in-dev.txt", "verified-in-test.txt", id="dev"),
        pytest.param("test", "verified-in-test.txt", "seeded-in-dev.txt", id="test"),
    ],
)
def test_stage_attached_steps_run_only_in_their_stage(
    run: Callable[..., Run], store: Path, stage: str, present: str, absent: str
) -> None:
    assert run(MLDOCK_STAGE=stage).code == 0
    assert (store / "results" / "metrics" / present).exists()
    assert not (store / "results" / "metrics" / absent).exists()


def test_secrets_stay_out_of_logs_and_failure_file(run: Callable[..., Run]) -> None:
    secret = "s3cr3t-value-123"
    result = run(MLDOCK_API_TOKEN=secret, MLDOCK_HYPERPARAMETERS=_hp(mode="fail"), MLDOCK_INPUT_CHANNEL_=secret)
    assert result.code == 2
    assert secret not in result.stderr
    assert secret not in (result.failure or "")


def _start(project: Path, store: Path, base: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mldock.runtime.entrypoint", "train"],
        env=_environ(project, store, base, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"exited early ({process.returncode}): {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path} never appeared: {process.communicate()[1]}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("mode", "grace", "signum", "received"),
    [
        pytest.param("sigterm", "20", signal.SIGTERM, "SIGTERM", id="step-handles-sigterm"),
        pytest.param("ignore-sigterm", "0.5", signal.SIGTERM, None, id="step-ignores-sigterm-and-is-killed"),
        pytest.param("sigterm", "20", signal.SIGINT, None, id="sigint-interrupts-the-step"),
    ],
)
def test_signals_are_forwarded_and_cleanup_still_runs(
    project: Path, store: Path, tmp_path: Path, mode: str, grace: str, signum: int, received: str | None
) -> None:
    base = tmp_path / "base"
    process = _start(project, store, base, MLDOCK_HYPERPARAMETERS=_hp(mode=mode), MLDOCK_STOP_GRACE_SECONDS=grace)
    _wait_for(base / "running", process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    name = signal.Signals(signum).name
    assert (base / "output" / "failure").read_text().splitlines()[0] == f"terminated by {name}"
    assert (store / "results" / "metrics" / "copy.csv").exists()
    signal_file = store / "results" / "metrics" / "got-signal.txt"
    assert (signal_file.read_text() if signal_file.exists() else None) == received


def test_sigterm_during_startup_skips_step_and_cleanup(project: Path, store: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    process = _start(project, store, base, MLDOCK_STAGE="slow")
    _wait_for(base / "running", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    failure = (base / "output" / "failure").read_text()
    assert failure.splitlines()[:2] == ["terminated by SIGTERM", "phase: startup"]
    assert not (store / "results" / "metrics").exists()
