"""mldock.runtime.lifecycle: setup, the one signal facility, cleanup after a failure."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from mldock.runtime.containers import TrainingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.failure import EXIT_STEP_FAILED, EXIT_USER_ERROR, Failure
from mldock.runtime.lifecycle import Setup, Signals, Terminated, run_cleanup, setup, signal_failure


def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # the handler runs in the main thread between bytecodes


def test_signals_are_recorded_and_the_previous_handler_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    signals = Signals()
    with signals.installed():
        _deliver(signal.SIGTERM)
        _deliver(signal.SIGINT)
    assert signals.received == [signal.SIGTERM, signal.SIGINT]
    assert signals.first == signal.SIGTERM
    assert signals.arrived.is_set()
    assert signal.getsignal(signal.SIGTERM) is before


def test_only_the_first_signal_inside_interrupting_raises() -> None:
    signals = Signals()
    with signals.installed():
        with pytest.raises(Terminated) as stopped, signals.interrupting():
            _deliver(signal.SIGTERM)
        _deliver(signal.SIGTERM)  # outside the block: recorded only
    assert stopped.value.signum == signal.SIGTERM
    assert signals.received == [signal.SIGTERM, signal.SIGTERM]


def test_signal_failure_exit_code() -> None:
    failure = signal_failure(signal.SIGTERM, "step")
    assert (failure.reason, failure.phase, failure.exit_code) == ("terminated by SIGTERM", "step", 143)


@pytest.fixture(autouse=True)
def _sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # setup puts the project folder first


def test_setup_writes_the_failure_file_for_bad_variables(tmp_path: Path) -> None:
    environ = {"MLDOCK_BASE_DIR": str(tmp_path), "MLDOCK_PROJECT_DIR": str(tmp_path), "MLDOCK_STAGE": "PROD"}
    assert setup("train", environ) == EXIT_USER_ERROR
    assert (tmp_path / "output" / "failure").read_text().startswith("StageError: MLDOCK_STAGE: 'PROD'")


def test_setup_finds_the_default_container_and_target(tmp_path: Path) -> None:
    (tmp_path / "trainer.py").write_text("def train(env):\n    pass\n")
    environ = {"MLDOCK_BASE_DIR": str(tmp_path / "ml"), "MLDOCK_PROJECT_DIR": str(tmp_path)}
    prepared = setup("train", environ)
    assert isinstance(prepared, Setup)
    assert type(prepared.container) is TrainingContainer
    assert str(prepared.target) == "trainer:train"
    assert (tmp_path / "ml" / "input" / "data").is_dir()


class _FailingCleanup(TrainingContainer):
    def cleanup(self) -> None:
        raise OSError("disk full")


def test_cleanup_keeps_the_earlier_failure_and_notes_its_own(tmp_path: Path) -> None:
    container = _FailingCleanup(Environment.from_env({}, base_dir=tmp_path))
    earlier = Failure("ValueError: bad", "step", EXIT_STEP_FAILED)
    merged = run_cleanup(container, earlier)
    assert merged is not None
    assert (merged.reason, merged.exit_code) == ("ValueError: bad", EXIT_STEP_FAILED)
    assert "cleanup also failed: OSError: disk full" in merged.details
    alone = run_cleanup(container, None)
    assert alone is not None
    assert (alone.phase, alone.exit_code) == ("cleanup", EXIT_STEP_FAILED)
    assert run_cleanup(TrainingContainer(Environment.from_env({}, base_dir=tmp_path)), None) is None
