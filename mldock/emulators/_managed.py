"""What the three process emulators share: lifecycle, context management, endpoint and host handling; their
buckets are administered through mldock's remotes (`_buckets.BucketAdmin`).

A subclass names itself (`name`, `scheme`), launches its process in `_launch()` (returning the bound port),
and says what SDK settings point at it in `env()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from mldock.emulators._buckets import BucketAdmin
from mldock.emulators._process import EmulatorProcess, PortInUse
from mldock.errors import EmulatorError, EmulatorStartError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ProcessEmulator"]

_ANY_ADDRESS = ("0.0.0.0", "::", "")
_PORT_ATTEMPTS = 5


class ProcessEmulator(BucketAdmin):
    """Base of the emulators that run as a local child process.

    `host` is the address to bind (127.0.0.1 unless told otherwise; "0.0.0.0" lets containers reach it);
    `port` 0 lets the OS choose; `start_timeout` bounds the health wait, in seconds.
    """

    name: ClassVar[str]
    scheme: ClassVar[str]
    default_start_timeout: ClassVar[float] = 30.0

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, start_timeout: float | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.start_timeout = start_timeout if start_timeout is not None else self.default_start_timeout
        self._proc: EmulatorProcess | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Launch the emulator and wait until it answers; a no-op when it already runs."""
        if self._proc is not None:
            return self
        attempts = 1 if self.requested_port else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                self._proc, self._port = self._launch()
                break
            except PortInUse:
                if attempt == attempts:
                    raise
        return self

    def _launch(self) -> tuple[EmulatorProcess, int]:
        raise NotImplementedError

    def env(self, host: str | None = None) -> Mapping[str, str]:
        """The SDK's standard variables pointing at this emulator (with `host` in place of 127.0.0.1)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the emulator process and everything it started; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self._last_logs = ""
            proc.stop()
            self._last_logs = proc.logs()
        self._port = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        """The emulator process's id while it runs (to watch its CPU or memory), else None."""
        return self._proc.pid if self._proc is not None else None

    def logs(self) -> str:
        """The tail of the emulator's own log (the last run's, after stop())."""
        if self._proc is not None:
            return self._proc.logs()
        return getattr(self, "_last_logs", "")

    # -- addresses -----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmulatorStartError(f"{self.name} emulator is not running; call start() first")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """The endpoint as reached from this host, e.g. http://127.0.0.1:PORT (also when bound to 0.0.0.0)."""
        return self.url_for()

    def url_for(self, host: str | None = None) -> str:
        """The endpoint with `host` in place of the local address (for containers reaching the host)."""
        if host is None:
            host = "127.0.0.1" if self.host in _ANY_ADDRESS else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def local_host(self) -> str:
        return "127.0.0.1" if self.host in _ANY_ADDRESS else self.host

    def _require_running(self) -> None:
        if self._proc is None:
            raise EmulatorError(f"{self.name} emulator is not running; call start() first")
        self._proc.check_alive()

    def __repr__(self) -> str:
        where = self.endpoint_url if self._port is not None else "stopped"
        return f"{type(self).__name__}({where})"
