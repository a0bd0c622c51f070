"""The training task: setup → startup() → the training step in a child process → cleanup().

    code = run(os.environ)          # what `mldock-entrypoint train` does; returns the exit code

The step runs in a child process (mldock.runtime.step) in its own session with the variables of
Environment.to_environ(); SIGTERM/SIGINT received during the step are forwarded to the child's process group,
and `MLDOCK_STOP_GRACE_SECONDS` (default 20) after the first one the group is killed. cleanup() then still
runs, and also after a failed step. Under a stop deadline (SageMaker's 120 s, or `MLDOCK_STOP_DEADLINE_SECONDS`)
the grace is at most half the deadline less a margin, and cleanup() is waited for until the deadline less the
margin (mldock.runtime.lifecycle.StopBudget): the failure file then names the uploads not finished in time.
A failed startup() skips the step and cleanup(). A signal received during startup or the step makes the exit
code 128 + signal; signals received during cleanup() are logged and cleanup finishes (by the stop deadline,
when there is one). The step's stdout and stderr pass through the entrypoint line by line with every secret of
its environment masked (mldock.runtime.redact): by name, inside hyperparameters, inside URIs.

The merged hyperparameters reach the step in a file, not in a variable: the entrypoint writes them to a private
temporary file (`mldock-hyperparameters-*.json`, mode 0600), names it in `MLDOCK_HYPERPARAMETERS_FILE` and
removes it after the step, so a value of any size starts (one variable is limited to 128 KiB on Linux). The
step's `Environment.from_env()` reads it like any other source (mldock.runtime.hyperparameters).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO, TextIO

from mldock import contract
from mldock.errors import LifecycleError, UserError
from mldock.runtime.containers import Container
from mldock.runtime.failure import EXIT_OK, EXIT_STEP_FAILED, Failure, StepReport, signal_reason
from mldock.runtime.lifecycle import (
    Setup,
    Signals,
    StopBudget,
    Terminated,
    report_failure,
    run_cleanup,
    setup,
    signal_failure,
)
from mldock.runtime.redact import Redactor

__all__ = ["run"]

logger = logging.getLogger("mldock")

_POLL_SECONDS = 0.1
_RELAY_DRAIN_SECONDS = 5.0  # after the step's group is gone, its pipes end at once; this bounds a stuck relay
_MAX_LINE_BYTES = 64 * 1024  # a longer line is passed on in pieces


def run(environ: Mapping[str, str]) -> int:
    """Run the training task for `environ` (the container's variables); returns the exit code."""
    prepared = setup("train", environ)
    if isinstance(prepared, int):
        return prepared
    env = prepared.env
    try:
        budget = StopBudget.from_env(env, environ, "train")
    except UserError as exc:
        return report_failure(Failure.from_exception(exc, "setup"), env.failure_file, environ)
    signals = Signals()
    with signals.installed():
        startup_failure = _startup(prepared.container, signals)
        if startup_failure is not None:
            return report_failure(startup_failure, env.failure_file, environ)
        failure = _run_step(prepared, environ, signals, budget.grace)
        signals_before_cleanup = list(signals.received)
        failure = run_cleanup(prepared.container, failure, signals=signals, budget=budget)
    if signals_before_cleanup:
        note = f"earlier failure: {failure.reason}\n{failure.details}" if failure else ""
        failure = signal_failure(signals_before_cleanup[0], "step", note)
    if failure is None:
        return EXIT_OK
    return report_failure(failure, env.failure_file, environ)


def _startup(container: Container, signals: Signals) -> Failure | None:
    started = time.monotonic()
    logger.info("startup: begin")
    try:
        with signals.interrupting():
            container.startup()
    except Terminated as stop:
        return signal_failure(stop.signum, "startup")
    except Exception as exc:
        return Failure.from_exception(exc, "startup")
    if signals.first is not None:
        return signal_failure(signals.first, "startup")
    logger.info("startup: done in %.2fs", time.monotonic() - started)
    return None


def _run_step(prepared: Setup, environ: Mapping[str, str], signals: Signals, grace: float) -> Failure | None:
    """Run the training step in a child process, forwarding signals; the failure it reported, if any."""
    inherited = {k: v for k, v in environ.items() if not k.startswith(contract.PREFIX)}
    full_env = inherited | prepared.env.to_environ()
    fd, report_name = tempfile.mkstemp(prefix="mldock-step-", suffix=".json")
    os.close(fd)
    report_file = Path(report_name)
    report_file.unlink()
    try:
        child_env, hyperparameters_file = _hyperparameters_in_file(full_env)
    except OSError as exc:
        problem = LifecycleError(f"cannot write the hyperparameters file for the training step: {exc}")
        return Failure.from_exception(problem, "step")
    try:
        return _run_child(prepared, child_env, Redactor.for_environ(full_env), report_file, signals, grace)
    finally:
        if hyperparameters_file is not None:
            hyperparameters_file.unlink(missing_ok=True)


def _hyperparameters_in_file(environ: dict[str, str]) -> tuple[dict[str, str], Path | None]:
    """`environ` with MLDOCK_HYPERPARAMETERS moved into a private temporary file that MLDOCK_HYPERPARAMETERS_FILE
    names (None: there were none)."""
    text = environ.get(contract.HYPERPARAMETERS)
    if text is None:
        return environ, None
    fd, name = tempfile.mkstemp(prefix="mldock-hyperparameters-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    child_env = {k: v for k, v in environ.items() if k != contract.HYPERPARAMETERS}
    child_env[contract.HYPERPARAMETERS_FILE_VARIABLE] = name
    return child_env, Path(name)


def _run_child(
    prepared: Setup,
    child_env: dict[str, str],
    mask: Redactor,
    report_file: Path,
    signals: Signals,
    grace: float,
) -> Failure | None:
    """Start the step with `child_env`, relay its output through `mask`, wait for it; its failure, if any."""
    env_class = type(prepared.env)
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
        child = subprocess.Popen(
            command, env=child_env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        problem = LifecycleError(f"cannot start the training step process ({sys.executable}): {exc}")
        return Failure.from_exception(problem, "step")
    logger.info("step: running %s (pid %d)", prepared.target, child.pid)
    relays = _relay_output(child, mask)
    code = _wait(child, signals, grace)
    _signal_group(child.pid, signal.SIGKILL)  # processes the step left behind
    for relay in relays:
        relay.join(timeout=_RELAY_DRAIN_SECONDS)
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


def _wait(child: subprocess.Popen[bytes], signals: Signals, grace: float) -> int:
    """Wait for `child`, forwarding new signals to its group; SIGKILL the group `grace` s after the first."""
    forwarded = 0
    deadline: float | None = None
    with _ExitWatch(child) as watch:
        while True:
            code = watch.wait(_POLL_SECONDS)
            if code is not None:
                return code
            while forwarded < len(signals.received):
                signum = signals.received[forwarded]
                forwarded += 1
                logger.info("step: forwarding %s to the step (grace %.0fs)", signal.Signals(signum).name, grace)
                _signal_group(child.pid, signum)
                if deadline is None:
                    deadline = time.monotonic() + grace
            if deadline is not None and time.monotonic() >= deadline:
                logger.warning("step: still running %.0fs after the signal; killing it", grace)
                _signal_group(child.pid, signal.SIGKILL)
                return child.wait()


class _ExitWatch:
    """Waits for a child's exit in slices: `wait(timeout)` is its exit status once it exited, else None.

    On Linux the wait ends the moment the child exits (poll() on a pidfd), not at Popen.wait(timeout)'s next
    poll (it sleeps up to 50 ms between checks, which every short step paid); elsewhere it is Popen.wait.
    """

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self._child = child
        self._fd: int | None = None
        self._poll: select.poll | None = None
        with suppress(AttributeError, OSError):  # no pidfd_open (not Linux, kernel < 5.3, Python < 3.9)
            self._fd = os.pidfd_open(child.pid)
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)

    def wait(self, timeout: float) -> int | None:
        if self._poll is not None:
            return self._child.wait() if self._poll.poll(timeout * 1000) else None
        try:
            return self._child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> _ExitWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)


def _relay_output(child: subprocess.Popen[bytes], mask: Redactor) -> list[threading.Thread]:
    """Pass the step's stdout and stderr through, line by line, with every secret of its environment masked
    (a step that prints its environment or a credential-bearing URI publishes nothing)."""
    pairs = ((child.stdout, sys.stdout), (child.stderr, sys.stderr))
    relays = [
        threading.Thread(target=_relay, args=(source, target, mask), name=f"mldock-step-{n}", daemon=True)
        for n, (source, target) in enumerate(pairs)
        if source is not None
    ]
    for relay in relays:
        relay.start()
    return relays


def _relay(source: IO[bytes], target: TextIO, mask: Redactor) -> None:
    sink = getattr(target, "buffer", None)
    with source:
        for raw in iter(lambda: source.readline(_MAX_LINE_BYTES), b""):
            masked = mask(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
            try:
                if sink is not None:
                    sink.write(masked)
                    sink.flush()
                else:
                    target.write(masked.decode("utf-8", "replace"))
                    target.flush()
            except (OSError, ValueError):  # our own output is gone: keep draining so the step never blocks
                continue


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
