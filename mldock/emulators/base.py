"""The protocol every emulator implements, and the one polling helper they share.

with S3Emulator() as s3:
    s3.create_bucket("data")                    # through mldock's own remote, built from s3.env()
    boto3.client("s3", **s3.client_kwargs())   # or subprocess.run(..., env={**os.environ, **s3.env()})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from mldock.errors import EmulatorError, EmulatorTimeoutError

if TYPE_CHECKING:
    from typing_extensions import Self

    from mldock.storage import Remote

__all__ = ["Emulator", "wait_until"]


class Emulator(Protocol):
    """A local stand-in for one cloud's blob storage."""

    @property
    def name(self) -> str:
        """Which emulator: "s3" | "gcs" | "azure" (a class attribute in the implementations)."""
        ...

    @property
    def scheme(self) -> str:
        """The URI scheme it serves: "s3" | "gs" | "az"."""
        ...

    def start(self) -> Self: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def endpoint_url(self) -> str:
        """The endpoint as reached from the host, e.g. http://127.0.0.1:PORT."""
        ...

    def env(self, host: str | None = None) -> Mapping[str, str]:
        """The SDK's standard variables pointing at this emulator (with `host` in place of 127.0.0.1)."""
        ...

    def remote(self) -> Remote:
        """mldock's storage remote for this emulator (what the plugin and the CLI use for its buckets)."""
        ...

    def create_bucket(self, name: str) -> None: ...

    def delete_bucket(self, name: str) -> None: ...

    def bucket_names(self) -> list[str]: ...

    def reset(self) -> None:
        """Delete every bucket/container and object."""
        ...

    def logs(self) -> str:
        """The tail of the emulator's own log."""
        ...


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
    logs: Callable[[], str] | None = None,
) -> None:
    """Call `check` until it returns True; raise EmulatorTimeoutError (with `logs()` tail) after `timeout` s.

    Exceptions raised by `check` count as "not yet", except EmulatorError, which ends the wait at once
    (a check raises it when the emulator process has died, so nobody waits for a corpse).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if check():
                return
        except EmulatorError:
            raise
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            hint = f"; last error: {last_error!r}" if last_error else ""
            raise EmulatorTimeoutError(
                f"{what} not reached within {timeout:.1f}s{hint}", log_tail=logs() if logs else ""
            )
        time.sleep(interval)
