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

Stop deadlines: a platform kills the container a fixed time after its SIGTERM (SageMaker: 120 s for training,
30 s for endpoints; `MLDOCK_STOP_DEADLINE_SECONDS` sets it anywhere). StopBudget fits the step's grace (or the
request drain) into half of that deadline less a margin, and run_cleanup() stops waiting for cleanup() at the
deadline less the margin: the failure file then names the output channels whose upload had not finished.
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
from mldock.runtime.channels import SERVE_UPLOAD_OUTPUTS, Channel
from mldock.runtime.cluster import plan_uploads
from mldock.runtime.containers import Container, ServingContainer, TrainingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.failure import (
    EXIT_STEP_FAILED,
    Failure,
    signal_exit_code,
    signal_reason,
    write_failure,
)
from mldock.runtime.loader import Target, Task, add_to_sys_path, check_target, load_container_class, resolve_target
from mldock.runtime.redact import redact_text
from mldock.runtime.sagemaker import is_sagemaker_channel
from mldock.storage.uri import RemoteURI

__all__ = [
    "Setup",
    "Signals",
    "StopBudget",
    "Terminated",
    "report_failure",
    "run_cleanup",
    "setup",
    "signal_failure",
]

logger = logging.getLogger("mldock")

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_POLL_SECONDS = 0.1


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
        _prepare(env, serving=task == "serve")
    except Exception as exc:
        return report_failure(Failure.from_exception(exc, "setup"), base_dir / contract.FAILURE_FILE, environ)
    for layout in (env.sagemaker, env.vertex, env.azureml):
        if layout is not None:
            logger.info("setup: %s", layout.describe())
    if env.cluster.is_multi_node:
        logger.info("setup: %s", env.cluster.describe())
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


def _prepare(env: Environment, *, serving: bool) -> None:
    try:
        env.prepare(serving=serving)
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


@dataclass(frozen=True)
class StopBudget:
    """How long a stopping task may take: the step's grace (or request drain) and the platform's kill deadline.

    budget = StopBudget.from_env(env, environ)    # SageMaker training: grace 20, deadline 120
    budget.grace                                   # min(MLDOCK_STOP_GRACE_SECONDS, (deadline - margin) / 2)
    """

    grace: float = contract.DEFAULT_STOP_GRACE_SECONDS
    deadline: float | None = None

    @classmethod
    def from_env(cls, env: Environment, environ: Mapping[str, str], task: Task) -> StopBudget:
        """The budget of `task` for `env` (the platform's deadline) and `environ` (the MLDOCK_STOP_* variables).

        UserError naming the variable for a bad value.
        """
        grace = contract.stop_grace_seconds(environ)
        default = env.sagemaker.stop_deadline(task) if env.sagemaker is not None else None
        deadline = contract.stop_deadline_seconds(environ, default)
        if deadline is not None:
            grace = min(grace, max(0.0, (deadline - contract.STOP_MARGIN_SECONDS) / 2))
        return cls(grace, deadline)

    def cleanup_ends(self, signalled_at: float | None) -> float | None:
        """The monotonic time cleanup must be over by, for a first signal at `signalled_at` (None: unbounded)."""
        if self.deadline is None or signalled_at is None:
            return None
        return signalled_at + self.deadline - contract.STOP_MARGIN_SECONDS


def run_cleanup(
    container: Container,
    failure: Failure | None,
    *,
    signals: Signals | None = None,
    budget: StopBudget | None = None,
) -> Failure | None:
    """Run cleanup(); the earlier `failure` (a cleanup problem noted on it), cleanup's own, or None.

    With `signals` and a `budget` that has a deadline, cleanup() runs in a thread and is waited for only until
    the deadline (less the margin) after the first signal; then the failure names the uploads not finished.
    """
    started = time.monotonic()
    logger.info("cleanup: begin%s", " (after a failure)" if failure else "")
    if signals is None or budget is None or budget.deadline is None:
        problem = _cleanup(container)
    else:
        finished, problem, pending = _cleanup_within(container, signals, budget)
        if not finished:
            signum = signals.first if signals.first is not None else signal.SIGTERM
            note = (
                f"cleanup was still running {budget.deadline - contract.STOP_MARGIN_SECONDS:g}s after "
                f"{signal_reason(signum).split()[-1]} (the platform kills at {budget.deadline:g}s); "
                "not uploaded in time: "
                + (", ".join(f"{c.kind.value} {c.name} ({c.uri})" for c in pending) or "none (cleanup steps ran)")
            )
            logger.error("cleanup: %s", note)
            if failure is None:
                return Failure(
                    "cleanup did not finish before the stop deadline", "cleanup", signal_exit_code(signum), note
                )
            return failure.with_note(note, first=True)
    if problem is not None:
        if failure is None:
            return problem
        logger.error("cleanup failed too: %s", problem.reason)
        return failure.with_note(f"cleanup also failed: {problem.reason}\n{problem.details}")
    logger.info("cleanup: done in %.2fs", time.monotonic() - started)
    return failure


def _cleanup(container: Container) -> Failure | None:
    try:
        container.cleanup()
    except Exception as exc:
        return Failure.from_exception(exc, "cleanup")
    return None


def _cleanup_within(
    container: Container, signals: Signals, budget: StopBudget
) -> tuple[bool, Failure | None, list[Channel]]:
    """Cleanup in a thread until done or the deadline: (finished, its failure, channels not yet uploaded)."""
    uploaded: set[str] = set()
    original = container.remote_for

    def tracked(uri: RemoteURI) -> Any:
        return _TrackedRemote(original(uri), uploaded)

    setattr(container, "remote_for", tracked)  # noqa: B010 -- remote_for is the documented injection point
    outcome: list[Failure | None] = []
    worker = threading.Thread(target=lambda: outcome.append(_cleanup(container)), name="mldock-cleanup", daemon=True)
    worker.start()
    while worker.is_alive():
        ends = budget.cleanup_ends(signals.first_at)
        if ends is not None and time.monotonic() >= ends:
            pending = [c for c in _uploaded_by(container) if str(c.uri) not in uploaded]
            return False, None, pending
        worker.join(_POLL_SECONDS)
    return True, outcome[0] if outcome else None, []


def _uploaded_by(container: Container) -> list[Channel]:
    """The channels `container`'s cleanup() uploads (the rule of mldock.runtime.containers, serving's included)."""
    env = container.env
    serving_uploads = contract.is_truthy(env.settings.get(contract.setting_key(SERVE_UPLOAD_OUTPUTS)))
    if isinstance(container, ServingContainer) and not serving_uploads:
        return []
    outputs = [c for c in (*env.output_channels, *env.output_model_channels) if not is_sagemaker_channel(c)]
    return list(plan_uploads(outputs, env.cluster, env.settings).uploads)  # the leader's, on a multi-node run


class _TrackedRemote:
    """A remote that records the URIs it finished uploading to (for the stop-deadline report)."""

    def __init__(self, remote: Any, uploaded: set[str]) -> None:
        self._remote, self._uploaded = remote, uploaded

    def upload(self, source: Path, uri: RemoteURI, *args: Any, **kwargs: Any) -> Any:
        report = self._remote.upload(source, uri, *args, **kwargs)
        self._uploaded.add(str(uri))
        return report

    def __getattr__(self, name: str) -> Any:
        return getattr(self._remote, name)


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
        self.first_at: float | None = None
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
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.received.append(signum)
        self.arrived.set()
        logger.warning("received %s", signal.Signals(signum).name)
        if self._interrupt:
            self._interrupt = False
            raise Terminated(signum)
