"""One emulator process: spawned with its output in a log file, its port read back, stopped for good.

    proc = EmulatorProcess("azurite", [binary, "--blobPort", "0", ...])
    port = proc.start(port_pattern=re.compile(r"listens on http://\\S+:(\\d+)"), timeout=30)
    ...
    proc.stop()

No port is found-then-bound here: either the emulator binds port 0 and the real port is read from its log,
or the caller picks a port and `start` raises PortInUse when the emulator lost the race, so the caller
retries with a fresh one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from mldock.emulators.base import wait_until
from mldock.errors import EmulatorStartError

__all__ = ["EmulatorProcess", "PortInUse", "http_answers", "pick_port"]

_LOG_TAIL_BYTES = 8192
_PR_SET_PDEATHSIG = 1


class PortInUse(EmulatorStartError):
    """The emulator exited because its port was taken (the caller retries with a fresh port)."""


def pick_port(host: str = "127.0.0.1") -> int:
    """A port the OS calls free right now; only for emulators that cannot bind port 0 (retry on PortInUse)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_answers(url: str, *, timeout: float = 2.0) -> bool:
    """True when `url` answers with any HTTP status (an error status still means the server is up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the child when the parent dies, so no emulator outlives a crashed session."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmulatorProcess:
    """A child process in its own session, its combined output in a temporary log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        in_use_pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.in_use_pattern = in_use_pattern
        self._popen: subprocess.Popen[bytes] | None = None
        self._logdir: tempfile.TemporaryDirectory[str] | None = None
        self._final_tail = ""

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self, *, port_pattern: re.Pattern[str] | None = None, timeout: float = 30.0) -> int | None:
        """Spawn the process; with `port_pattern`, wait for the log line naming the port and return it."""
        self._logdir = tempfile.TemporaryDirectory(prefix=f"mldock-{self.name}-")
        with open(self._log_path(), "wb") as log:
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self._logdir.name,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                self.stop()
                raise EmulatorStartError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        if port_pattern is None:
            return None
        found: list[int] = []

        def port_logged() -> bool:
            match = port_pattern.search(self.logs())
            if match:
                found.append(int(match.group(1)))
                return True
            self.check_alive()
            return False

        try:
            wait_until(port_logged, timeout=timeout, what=f"{self.name} listening", logs=self.logs)
        except BaseException:
            self.stop()
            raise
        return found[0]

    def check_alive(self) -> None:
        """Raise EmulatorStartError (PortInUse when the log says so) if the process has exited."""
        if self._popen is None or self._popen.poll() is None:
            return
        tail = self.logs()
        code = self._popen.returncode
        if self.in_use_pattern is not None and self.in_use_pattern.search(tail):
            raise PortInUse(f"{self.name}: its port is already in use (exit code {code})", log_tail=tail)
        raise EmulatorStartError(f"{self.name} exited with code {code}", log_tail=tail)

    def wait_http(self, url: str, *, timeout: float) -> None:
        """Wait until `url` answers, failing at once (with the log tail) if the process dies meanwhile."""

        def ready() -> bool:
            self.check_alive()
            return http_answers(url, timeout=1.0)

        try:
            wait_until(ready, timeout=timeout, what=f"{self.name} answering at {url}", logs=self.logs)
        except BaseException:
            self.stop()
            raise

    def logs(self) -> str:
        """The last few KiB of the process's output (still available after stop())."""
        if self._logdir is None:
            return self._final_tail
        path = self._log_path()
        if not path.exists():
            return ""
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _LOG_TAIL_BYTES))
            return log.read().decode("utf-8", "replace")

    def stop(self, *, grace: float = 5.0) -> None:
        """Terminate the process group, kill it after `grace` seconds, and remove the log folder."""
        popen, self._popen = self._popen, None
        if popen is not None:
            if popen.poll() is None:
                _signal_group(popen.pid, signal.SIGTERM)
                try:
                    popen.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    _signal_group(popen.pid, signal.SIGKILL)
                    popen.wait(timeout=grace)
            _signal_group(popen.pid, signal.SIGKILL)  # anything the emulator spawned into its session
        if self._logdir is not None:
            self._final_tail = self.logs()
            self._logdir.cleanup()
            self._logdir = None

    def _log_path(self) -> Path:
        assert self._logdir is not None
        return Path(self._logdir.name) / "emulator.log"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
