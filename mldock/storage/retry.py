"""Retry transient storage failures (5xx, throttling, connection resets) with capped, jittered backoff.

    report = call_with_retry(lambda: transfer_one(item), what="s3://bucket/key")

The SDKs retry single requests themselves; this layer retries a whole file transfer (safe: every file is
written through a temporary name, and uploads overwrite), which also covers a stream cut half-way through.
Exceptions are classified by mldock.storage.classify, the same rules the error mapping uses.

Attempts and time are bounded at both levels: each SDK is configured for SDK_ATTEMPTS attempts per request with
a connect and a read timeout (see the remotes' modules), and a file is tried DEFAULT_ATTEMPTS times with a
jittered delay of at most `base * 2**retry` seconds between tries. The timeouts come from one setting,
`MLDOCK_STORAGE_TIMEOUT` (seconds, default 60, read from the remote's environment mapping): each request gets
that time divided by TIMEOUT_SHARES (2 * SDK_ATTEMPTS) to connect and as much to wait for its next bytes, so
an endpoint that never answers fails the first request (a listing or a bucket lookup) within about half the
setting plus the SDK's delays; a file is retried only within the setting since its first attempt began, so one
file ends within about one and a half times the setting plus the delays. docs/storage.md
("Retries and time limits") works out the worst case per cloud.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from mldock.contract import STORAGE_TIMEOUT
from mldock.errors import UserError
from mldock.storage.classify import is_transient

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_ATTEMPTS",
    "DEFAULT_STORAGE_TIMEOUT",
    "READ_TIMEOUT",
    "SDK_ATTEMPTS",
    "TIMEOUT_SHARES",
    "Timeouts",
    "backoff_delays",
    "call_with_retry",
    "is_transient",
    "timeouts_from",
]

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5
"""Whole-file attempts, for what the SDKs' own request retries cannot cover (a stream cut half-way, a response
garbled in transit, a checksum mismatch). A file is tried again only while less than the storage timeout has
passed since its first attempt began (`retry_window`), so more attempts never lengthen the worst case past
about one and a half storage timeouts."""
SDK_ATTEMPTS = 3
TIMEOUT_SHARES = 2 * SDK_ATTEMPTS
"""The storage timeout is divided by this for each request's connect and read timeouts: an endpoint that never
answers fails a request's SDK attempts within half the setting (plus the SDK's delays)."""
"""Attempts per request the SDKs are configured for (botocore, azure-storage), and per file attempt for
google-cloud-storage (whose retry counts every request of one file together)."""
DEFAULT_STORAGE_TIMEOUT = 60.0
"""Seconds `MLDOCK_STORAGE_TIMEOUT` gives when unset: an endpoint that never answers fails within about this."""
CONNECT_TIMEOUT = DEFAULT_STORAGE_TIMEOUT / TIMEOUT_SHARES
"""Seconds to wait for a connection, every SDK (with the default setting: 10)."""
READ_TIMEOUT = CONNECT_TIMEOUT
"""Seconds to wait for the next bytes of a response (not for the whole response), every SDK (default: 10)."""
_MAX_STORAGE_TIMEOUT = 1e6


@dataclass(frozen=True)
class Timeouts:
    """The per-request timeouts that follow from the `MLDOCK_STORAGE_TIMEOUT` setting `total`.

    Timeouts(60.0).connect, Timeouts(60.0).read    # (10.0, 10.0)
    """

    total: float = DEFAULT_STORAGE_TIMEOUT

    @property
    def connect(self) -> float:
        """Seconds to wait for a connection."""
        return self.total / TIMEOUT_SHARES

    @property
    def read(self) -> float:
        """Seconds to wait for the next bytes of a response."""
        return self.total / TIMEOUT_SHARES


def timeouts_from(environ: Mapping[str, str] | None = None) -> Timeouts:
    """The Timeouts `MLDOCK_STORAGE_TIMEOUT` sets in `environ` (os.environ when None); UserError naming the
    variable when it is not a number of seconds above 0 and at most 1e6."""
    env = os.environ if environ is None else environ
    value = env.get(STORAGE_TIMEOUT)
    if value is None or not value.strip():
        return Timeouts()
    try:
        seconds = float(value.strip())
    except ValueError:
        raise UserError(f"{STORAGE_TIMEOUT}: {value[:40]!r} is not a number of seconds") from None
    if not 0 < seconds <= _MAX_STORAGE_TIMEOUT:
        raise UserError(f"{STORAGE_TIMEOUT}: {value[:40]!r} is out of range (above 0, at most 1e6 seconds)")
    return Timeouts(seconds)


_JITTER = random.Random()
"""mldock's own generator for retry jitter: the global `random` is the caller's (a training script seeds it, and
hypothesis refuses a test whose global random state another thread's retry moved)."""


def backoff_delays(attempts: int, *, base: float = 0.25, cap: float = 8.0) -> Iterator[float]:
    """`attempts - 1` delays: exponential from `base`, capped, with full jitter."""
    for retry in range(attempts - 1):
        yield _JITTER.uniform(0, min(cap, base * 2**retry))


def call_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base: float = 0.25,
    classify: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
    retry_window: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `fn`; on a transient failure wait and call again, up to `attempts` calls in all, and (with
    `retry_window`) only while less than that many seconds have passed since the first call began."""
    delays = backoff_delays(attempts, base=base)
    started = clock()
    while True:
        try:
            return fn()
        except Exception as exc:
            if not classify(exc):
                raise
            delay = next(delays, None)
            if delay is None or (retry_window is not None and clock() - started >= retry_window):
                raise
            sleep(delay)
