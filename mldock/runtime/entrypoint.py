"""The container entrypoint: `mldock-entrypoint train|serve` (also `python -m mldock train|serve`).

    docker run IMAGE train        # environment → startup() → the training step → cleanup()
    docker run IMAGE serve        # startup() → HTTP server (/ping, /invocations) → cleanup() at SIGTERM

Discovery of the user's code is described in mldock.runtime.loader, exit codes in mldock.runtime.failure.

Train: the step runs in a child process (mldock.runtime.step) in its own session with the variables of
Environment.to_environ(); SIGTERM/SIGINT received during the step are forwarded to the child's process group,
and after `MLDOCK_STOP_GRACE_SECONDS` (default 20) the group is killed. cleanup() then still runs, and also
after a failed step. A failed startup() skips the step and cleanup(). A signal received during startup or
the step makes the exit code 128 + signal; signals received during cleanup() are logged and cleanup finishes.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from mldock import contract
from mldock.errors import LifecycleError, UserError
from mldock.runtime.containers import Container, ServingContainer, TrainingContainer
from mldock.runtime.environment import DEFAULT_BASE_DIR, Environment
from mldock.runtime.failure import (
    EXIT_OK,
    EXIT_STEP_FAILED,
    EXIT_USER_ERROR,
    Failure,
    StepReport,
    signal_exit_code,
    signal_reason,
    write_failure,
)
from mldock.runtime.loader import (
    Target,
    Task,
    add_to_sys_path,
    check_target,
    load_container_class,
    resolve_target,
)
from mldock.runtime.redact import redact_text

__all__ = ["Setup", "console_main", "main", "report_failure", "setup"]

logger = logging.getLogger("mldock")

DEFAULT_STOP_GRACE_SECONDS = 20.0
_POLL_SECONDS = 0.1


def main(argv: list[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run `train` or `serve` as `argv` asks and return the exit code; `environ` defaults to os.environ."""
    parser = argparse.ArgumentParser(prog="mldock-entrypoint", description="Run an mldock container task.")
    parser.add_argument("task", choices=["train", "serve"], help="what the container does")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    source = dict(os.environ if environ is None else environ)
    with _logging(source):
        started = time.monotonic()
        if args.task == "train":
            code = _train(source)
        else:
            from mldock.runtime.server import serve

            prepared = setup("serve", source)
            code = prepared if isinstance(prepared, int) else serve(prepared, source)
        logger.info("%s: finished in %.2fs with exit code %d", args.task, time.monotonic() - started, code)
        return code


def console_main() -> None:
    """The `mldock-entrypoint` console script."""
    raise SystemExit(main())


@dataclass(frozen=True)
class Setup:
    """What the entrypoint found before startup(): the container, its environment and the user's target."""

    container: Container
    env: Environment
    target: Target


def setup(task: Task, environ: Mapping[str, str]) -> Setup | int:
    """Load assets.py, build the Environment, find the target, prepare the folders; an exit code on failure."""
    base_dir = Path(environ.get("MLDOCK_BASE_DIR") or DEFAULT_BASE_DIR)
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
        return report_failure(Failure.from_exception(exc, "setup"), base_dir / "output" / "failure", environ)
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


class Terminated(BaseException):
    """Raised in the main thread by a SIGTERM/SIGINT received while startup() runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_reason(signum))
        self.signum = signum


class SignalRelay:
    """Records SIGTERM/SIGINT; raises Terminated while `interrupt` is set (startup), else only records."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.interrupt = False
        self._previous: dict[int, object] = {}

    @contextmanager
    def installed(self) -> Iterator[SignalRelay]:
        """Handle SIGTERM and SIGINT while the block runs (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for number, previous in self._previous.items():
                signal.signal(number, previous)  # type: ignore[arg-type]

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        logger.warning("received %s", signal.Signals(signum).name)
        if self.interrupt:
            self.interrupt = False
            raise Terminated(signum)


def _train(environ: Mapping[str, str]) -> int:
    prepared = setup("train", environ)
    if isinstance(prepared, int):
        return prepared
    env = prepared.env
    try:
        grace = float(env.settings.get("STOP_GRACE_SECONDS", DEFAULT_STOP_GRACE_SECONDS))
    except ValueError:
        bad = UserError("MLDOCK_STOP_GRACE_SECONDS: expected a number of seconds")
        return report_failure(Failure.from_exception(bad, "setup"), env.failure_file, environ)
    relay = SignalRelay()
    with relay.installed():
        startup_failure = _startup(prepared.container, relay)
        if startup_failure is not None:
            return report_failure(startup_failure, env.failure_file, environ)
        failure = _run_step(prepared, environ, relay, grace)
        signals_before_cleanup = list(relay.received)
        failure = _cleanup(prepared.container, failure)
    if signals_before_cleanup:
        signum = signals_before_cleanup[0]
        note = f"earlier failure: {failure.reason}\n{failure.details}" if failure else ""
        failure = Failure(signal_reason(signum), "step", signal_exit_code(signum), note)
    if failure is None:
        return EXIT_OK
    return report_failure(failure, env.failure_file, environ)


def _startup(container: Container, relay: SignalRelay) -> Failure | None:
    started = time.monotonic()
    logger.info("startup: begin")
    relay.interrupt = True
    try:
        container.startup()
    except Terminated as stop:
        return Failure(signal_reason(stop.signum), "startup", signal_exit_code(stop.signum))
    except Exception as exc:
        return Failure.from_exception(exc, "startup")
    finally:
        relay.interrupt = False
    if relay.received:
        signum = relay.received[0]
        return Failure(signal_reason(signum), "startup", signal_exit_code(signum))
    logger.info("startup: done in %.2fs", time.monotonic() - started)
    return None


def _cleanup(container: Container, failure: Failure | None) -> Failure | None:
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


def _run_step(prepared: Setup, environ: Mapping[str, str], relay: SignalRelay, grace: float) -> Failure | None:
    """Run the training step in a child process, forwarding signals; the failure it reported, if any."""
    env_class = type(prepared.env)
    child_env = {k: v for k, v in environ.items() if not k.startswith("MLDOCK_")} | prepared.env.to_environ()
    fd, report_name = tempfile.mkstemp(prefix="mldock-step-", suffix=".json")
    os.close(fd)
    report_file = Path(report_name)
    report_file.unlink()
    command = [
        sys.executable,
        "-m",
        "mldock.runtime.step",
        str(prepared.target),
        "--report",
        str(report_file),
        "--environment-class",
        f"{env_class.__module__}:{env_class.__qualname__}",
    ]
    started = time.monotonic()
    try:
        child = subprocess.Popen(command, env=child_env, start_new_session=True)
    except OSError as exc:
        problem = LifecycleError(f"cannot start the training step process ({sys.executable}): {exc}")
        return Failure.from_exception(problem, "step")
    logger.info("step: running %s (pid %d)", prepared.target, child.pid)
    code = _wait(child, relay, grace)
    _signal_group(child.pid, signal.SIGKILL)  # processes the step left behind
    report = StepReport.read(report_file)
    report_file.unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    if code == 0:
        logger.info("step: %s succeeded in %.2fs", prepared.target, elapsed)
        return None
    logger.error("step: %s failed after %.2fs (exit status %d)", prepared.target, elapsed, code)
    if report is not None:
        return report.to_failure("step")
    if code < 0:
        reason = f"the training step was killed by {signal_reason(-code).removeprefix('terminated by ')}"
        return Failure(reason, "step", EXIT_STEP_FAILED, "no exception was reported: the process was killed")
    return Failure(f"the training step exited with code {code}", "step", EXIT_STEP_FAILED)


def _wait(child: subprocess.Popen[bytes], relay: SignalRelay, grace: float) -> int:
    """Wait for `child`, forwarding new signals to its group; SIGKILL the group `grace` s after the first."""
    forwarded = 0
    deadline: float | None = None
    while True:
        try:
            return child.wait(timeout=_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        while forwarded < len(relay.received):
            signum = relay.received[forwarded]
            forwarded += 1
            logger.info("step: forwarding %s to the step (grace %.0fs)", signal.Signals(signum).name, grace)
            _signal_group(child.pid, signum)
            if deadline is None:
                deadline = time.monotonic() + grace
        if deadline is not None and time.monotonic() >= deadline:
            logger.warning("step: still running %.0fs after the signal; killing it", grace)
            _signal_group(child.pid, signal.SIGKILL)
            return child.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"mldock: {level}{message}"


@contextmanager
def _logging(environ: Mapping[str, str]) -> Iterator[None]:
    """Send the `mldock` logger to stderr with the `mldock:` prefix while the block runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    level = environ.get("MLDOCK_LOG_LEVEL", "INFO").upper()
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    resolved = logging.getLevelName(level)
    logger.setLevel(resolved if isinstance(resolved, int) else logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


if __name__ == "__main__":
    console_main()
