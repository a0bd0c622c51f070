"""What training and serving share: setup, failure reporting, signal handling, cleanup.

    prepared = setup("train", environ)              # an exit code when setup failed (failure file written)
    signals = Signals()
    with signals.installed():                       # SIGTERM/SIGINT are logged and recorded from now on
        with signals.interrupting():
            prepared.container.startup()            # the first signal raises Terminated here
        ...                                         # later signals are only recorded (signals.received)
        failure = run_cleanup(prepared.container, failure)
    return report_failure(failure, prepared.env.failure_file, environ) if failure else EXIT_OK

Setup loads `assets.py`, builds the container's Environment, resolves the training step or serving handler
(mldock.runtime.loader) and prepares the folders (the one side effect: Environment.prepare()). When any of it
fails, the failure file goes below `MLDOCK_BASE_DIR` (or /opt/ml when even that is unusable).

Failures are logged (with the traceback only when user code failed) and written to the failure file with
secrets redacted (mldock.runtime.failure holds the exit codes).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from mldock import contract
from mldock.errors import LifecycleError, UserError
from mldock.runtime.containers import Container, ServingContainer, TrainingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.failure import EXIT_STEP_FAILED, Failure, signal_exit_code, signal_reason, write_failure
from mldock.runtime.loader import Target, Task, add_to_sys_path, check_target, load_container_class, resolve_target
from mldock.runtime.redact import redact_text

__all__ = [
    "Setup",
    "Signals",
    "Terminated",
    "report_failure",
    "run_cleanup",
    "setup",
    "signal_failure",
]

logger = logging.getLogger("mldock")

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Setup:
    """What setup found before startup(): the container, its environment and the user's target."""

    container: Container
    env: Environment
    target: Target


def setup(task: Task, environ: Mapping[str, str]) -> Setup | int:
    """Load assets.py, build the Environment, find the target, prepare the folders; an exit code on failure."""
    try:
        base_dir = contract.base_dir_from(environ)
    except UserError:
        base_dir = contract.DEFAULT_BASE_DIR  # Environment.from_env below reports the bad value
    try:
        project_dir = contract.project_dir_from(environ)
        add_to_sys_path(project_dir)
        base: type[Container] = TrainingContainer if task == "train" else ServingContainer
        container_class = load_container_class(task, project_dir, base, environ)
        env = container_class.environment_class.from_env(environ)
        base_dir = env.base_dir
        target = resolve_target(task, environ, project_dir)
        check_target(target)
        _prepare(env)
    except Exception as exc:
        return report_failure(Failure.from_exception(exc, "setup"), base_dir / contract.FAILURE_FILE, environ)
    logger.info(
        "setup: %s with %s, stage %s, base %s, project %s, %s %s",
        task,
        container_class.__qualname__,
        env.stage,
        env.base_dir,
        env.project_dir,
        "step" if task == "train" else "handler",
        target,
    )
    return Setup(container_class(env), env, target)


def _prepare(env: Environment) -> None:
    try:
        env.prepare()
    except OSError as exc:
        raise LifecycleError(f"cannot prepare the folders below {env.base_dir}: {exc}") from exc


def report_failure(failure: Failure, path: Path, environ: Mapping[str, str]) -> int:
    """Log `failure` (the traceback only when user code failed), write it to `path`; returns its exit code."""
    logger.error("%s failed: %s", failure.phase, redact_text(failure.reason, environ))
    if failure.details and failure.exit_code == EXIT_STEP_FAILED:
        logger.error("%s", redact_text(failure.details.rstrip(), environ))
    try:
        write_failure(path, failure, environ)
    except OSError as exc:
        logger.error("cannot write the failure file %s: %s", path, exc)
    return failure.exit_code


def signal_failure(signum: int, phase: str, details: str = "") -> Failure:
    """The failure of a task ended by `signum` during `phase`: exit code 128 + signum."""
    return Failure(signal_reason(signum), phase, signal_exit_code(signum), details)


def run_cleanup(container: Container, failure: Failure | None) -> Failure | None:
    """Run cleanup(); the earlier `failure` (a cleanup problem noted on it), cleanup's own, or None."""
    started = time.monotonic()
    logger.info("cleanup: begin%s", " (after a failure)" if failure else "")
    try:
        container.cleanup()
    except Exception as exc:
        problem = Failure.from_exception(exc, "cleanup")
        if failure is None:
            return problem
        logger.error("cleanup failed too: %s", problem.reason)
        return failure.with_note(f"cleanup also failed: {problem.reason}\n{problem.details}")
    logger.info("cleanup: done in %.2fs", time.monotonic() - started)
    return failure


class Terminated(BaseException):
    """Raised in the main thread by a SIGTERM/SIGINT received inside Signals.interrupting()."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_reason(signum))
        self.signum = signum


class Signals:
    """SIGTERM/SIGINT of one task: logged, recorded in `received`, and `arrived` set; the one handler of both tasks.

        signals = Signals()
        with signals.installed():
            with signals.interrupting():
                container.startup()         # Terminated(signum) on the first signal
            signals.arrived.wait(0.1)       # True once any signal was received

    Handlers can only be installed from the main thread; elsewhere `installed()` is a no-op.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.arrived = threading.Event()
        self._interrupt = False
        self._previous: dict[int, Any] = {}

    @property
    def first(self) -> int | None:
        """The first signal received, if any."""
        return self.received[0] if self.received else None

    @contextmanager
    def installed(self) -> Iterator[Signals]:
        """Handle SIGTERM and SIGINT while the block runs, then restore the previous handlers."""
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for number, previous in self._previous.items():
                signal.signal(number, previous)
            self._previous.clear()

    @contextmanager
    def interrupting(self) -> Iterator[None]:
        """While the block runs, the first signal raises Terminated in the main thread (once)."""
        self._interrupt = True
        try:
            yield
        finally:
            self._interrupt = False

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        self.arrived.set()
        logger.warning("received %s", signal.Signals(signum).name)
        if self._interrupt:
            self._interrupt = False
            raise Terminated(signum)
