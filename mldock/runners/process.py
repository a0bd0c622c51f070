"""The `process` runner: the project's entrypoint in a subprocess, with MLDOCK_BASE_DIR in a temporary folder.

    with ProcessRunner() as runner:                     # removes the base dirs it made on exit
        result = runner.run(RunSpec(project, project.stage("test"), environment=channels))
        result.assert_succeeded()
        (result.base_dir / "output").iterdir()           # what the task left behind

No image, no engine: `sys.executable -m mldock.runtime.entrypoint <task>` in the project folder, so the project's
requirements must be installed in the current interpreter. The fast inner loop; the `docker` runner gives the
same RunResult for the real image.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO

from mldock.contract import BASE_DIR, FAILURE_FILE, PREFIX, PROJECT_DIR, SERVE_HOST, SERVE_PORT
from mldock.errors import RunnerError
from mldock.runners._basedirs import BaseDirs
from mldock.runners.addressing import host_process_environment
from mldock.runners.base import RunResult, RunSpec
from mldock.runners.environment import TaskEnvironment, task_environment
from mldock.runners.serving import HttpEndpoint, client_host, free_port, wait_until_healthy

__all__ = ["DEFAULT_GRACE", "ProcessRunner"]

DEFAULT_GRACE = 30.0
"""Seconds between SIGTERM and SIGKILL when a task is stopped (timeout, end of serving, interruption).

Longer than the runtime's own stop grace for the training step (MLDOCK_STOP_GRACE_SECONDS, default 20 s), so
cleanup() can still upload what the step wrote."""

_PR_SET_PDEATHSIG = 1


class ProcessRunner:
    """Runs the entrypoint as a child process of this interpreter.

        runner = ProcessRunner(log=print)                # stream the task's output line by line
        result = runner.run(spec)
        runner.cleanup()                                 # remove every base dir this runner made

    `python` is the interpreter to use (default: this one); `host_environ` the environment the child inherits
    (default: `os.environ` when a run starts; its `MLDOCK_*` variables never pass, the task's come from the spec);
    `grace` the seconds between SIGTERM and SIGKILL;
    `keep_base_dir=False` removes each run's base dir as soon as its result is made (then
    `RunResult.base_dir` is None). Otherwise the caller owns the base dirs: `cleanup()` or `with` removes them.
    """

    name = "process"

    def __init__(
        self,
        *,
        python: str | None = None,
        grace: float = DEFAULT_GRACE,
        log: Callable[[str], None] | None = None,
        keep_base_dir: bool = True,
        host_environ: Mapping[str, str] | None = None,
    ) -> None:
        self.python = python or sys.executable
        self.host_environ = host_environ
        self.grace = grace
        self.log = log
        self.keep_base_dir = keep_base_dir
        self._base_dirs = BaseDirs()

    # -- training ------------------------------------------------------------------------------------------

    def run(self, spec: RunSpec) -> RunResult:
        """Run `spec.task` to the end (or to `spec.timeout`) and report what happened."""
        base_dir = self._new_base_dir(spec)
        files = self._base_dirs.new(f"{spec.project.name}-{spec.task}-files")
        try:
            env = self._environment(spec, base_dir).hyperparameters_in_file(files)
            started = time.monotonic()
            child = _Child.start(self._argv(spec), cwd=spec.project.root, env=env, log=self.log, host=self._host())
            timed_out = False
            try:
                try:
                    child.popen.wait(timeout=spec.timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    child.stop(self.grace)
            finally:
                child.stop(self.grace)  # a no-op when it has exited; kills it on KeyboardInterrupt
        finally:
            self._base_dirs.remove(files)
        duration = time.monotonic() - started
        logs = env.redact(child.output())
        if timed_out:
            logs += f"\n[mldock] {spec.task} timed out after {spec.timeout:g}s: stopped (SIGTERM, then SIGKILL)\n"
        result = RunResult(
            task=spec.task,
            exit_code=_exit_code(child.popen.returncode),
            logs=logs,
            failure=_read_failure(base_dir, env),
            duration=duration,
            environment=env.masked,
            timed_out=timed_out,
            base_dir=base_dir if self.keep_base_dir else None,
        )
        if not self.keep_base_dir:
            self._base_dirs.remove(base_dir)
        return result

    # -- serving -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(
        self, spec: RunSpec, *, ready_timeout: float = 60.0, port: int | None = None, host: str = "127.0.0.1"
    ) -> Iterator[HttpEndpoint]:
        """Start `serve` on `host:port` (a free loopback port by default), wait for GET /ping 200, yield the
        endpoint; SIGTERM it on exit."""
        serve_spec = replace(spec, task="serve")
        base_dir = self._new_base_dir(serve_spec)
        files = self._base_dirs.new(f"{spec.project.name}-serve-files")
        port = port or free_port()
        try:
            env = self._environment(serve_spec, base_dir, serve_port=port, serve_host=host)
            env = env.hyperparameters_in_file(files)
            child = _Child.start(
                self._argv(serve_spec), cwd=spec.project.root, env=env, log=self.log, host=self._host()
            )
        except BaseException:
            self._base_dirs.remove(files)
            raise
        try:
            endpoint = HttpEndpoint(f"http://{client_host(host)}:{port}", logs=lambda: env.redact(child.output()))
            wait_until_healthy(endpoint, timeout=ready_timeout, exited=child.popen.poll, what="the serving process")
            yield endpoint
        finally:
            child.stop(self.grace)
            self._base_dirs.remove(files)
            if not self.keep_base_dir:
                self._base_dirs.remove(base_dir)

    # -- base dirs -----------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove every base dir this runner made (results' `base_dir` paths stop existing)."""
        self._base_dirs.cleanup()

    def __enter__(self) -> ProcessRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- helpers -------------------------------------------------------------------------------------------

    def _host(self) -> Mapping[str, str]:
        return os.environ if self.host_environ is None else self.host_environ

    def _argv(self, spec: RunSpec) -> list[str]:
        return [self.python, "-m", "mldock.runtime.entrypoint", spec.task]

    def _new_base_dir(self, spec: RunSpec) -> Path:
        return self._base_dirs.new(f"{spec.project.name}-{spec.task}")

    def _environment(
        self, spec: RunSpec, base_dir: Path, *, serve_port: int | None = None, serve_host: str = "127.0.0.1"
    ) -> TaskEnvironment:
        runner_env = {BASE_DIR: str(base_dir), PROJECT_DIR: str(spec.project.root)}
        if serve_port is not None:
            runner_env[SERVE_PORT] = str(serve_port)
            runner_env[SERVE_HOST] = serve_host  # loopback by default: the runtime's own default, 0.0.0.0, exposes it
        return task_environment(
            spec,
            emulator_env=host_process_environment(spec.emulators),
            runner_env=runner_env,
            host_environ=self._host(),  # the child inherits it anyway; forwarded here so reports show the same
        )


class _Child:
    """One task subprocess in its own session; its combined output pumped line by line by a thread."""

    def __init__(self, popen: subprocess.Popen[bytes], log: Callable[[str], None] | None) -> None:
        self.popen = popen
        self._lines: list[str] = []
        self._log = log
        self._pump = threading.Thread(target=self._read, args=(popen.stdout,), daemon=True)
        self._pump.start()

    @classmethod
    def start(
        cls,
        argv: list[str],
        *,
        cwd: Path,
        env: TaskEnvironment,
        log: Callable[[str], None] | None,
        host: Mapping[str, str],
    ) -> _Child:
        environ = {k: v for k, v in host.items() if not k.startswith(PREFIX)}
        environ.update(env.variables)
        environ["PYTHONUNBUFFERED"] = "1"
        try:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_death_signal_setter(),
            )
        except OSError as exc:
            raise RunnerError(f"cannot start {argv[0]} in {cwd}: {exc}") from exc
        redacting_log = None if log is None else (lambda line: log(env.redact(line)))
        return cls(popen, redacting_log)

    def _read(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace")
                self._lines.append(line)
                if self._log is not None:
                    with contextlib.suppress(Exception):  # a broken callback must not lose the output
                        self._log(line.rstrip("\n"))

    def output(self) -> str:
        return "".join(self._lines)

    def stop(self, grace: float) -> None:
        """SIGTERM the task's process group, SIGKILL after `grace` s; wait for the output to be read."""
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        _signal_group(self.popen.pid, signal.SIGKILL)  # anything the task left running in its session
        self._pump.join(timeout=5.0)


def _exit_code(returncode: int) -> int:
    """A shell-style exit code: death by signal N is 128 + N (as a container engine reports it), not -N."""
    return 128 - returncode if returncode < 0 else returncode


def _read_failure(base_dir: Path, env: TaskEnvironment) -> str | None:
    path = base_dir / FAILURE_FILE
    try:
        return env.redact(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _death_signal_setter() -> Callable[[], None] | None:
    """A pre-exec hook that makes Linux SIGTERM the child when this process dies (None elsewhere).

    libc is looked up here, in the parent: nothing that forks or allocates may run between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal
