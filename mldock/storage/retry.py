"""Retry transient storage failures (5xx, throttling, connection resets) with capped, jittered backoff.

    report = call_with_retry(lambda: transfer_one(item), what="s3://bucket/key")

The SDKs retry single requests themselves; this layer retries a whole file transfer (safe: every file is
written through a temporary name, and uploads overwrite), which also covers a stream cut half-way through.
Exceptions are classified by mldock.storage.classify, the same rules the error mapping uses.

Attempts and time are bounded at both levels: each SDK is configured for SDK_ATTEMPTS attempts per request with
CONNECT_TIMEOUT/READ_TIMEOUT (see the remotes' modules), and a file is tried DEFAULT_ATTEMPTS times with a
jittered delay of at most `base * 2**retry` seconds between tries. docs/storage.md ("Retries and time limits")
works out the worst case per cloud.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from mldock.storage.classify import is_transient

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_ATTEMPTS",
    "READ_TIMEOUT",
    "SDK_ATTEMPTS",
    "backoff_delays",
    "call_with_retry",
    "is_transient",
]

T = TypeVar("T")

DEFAULT_ATTEMPTS = 2
"""Whole-file attempts: the SDKs already retry each request, so one more try covers what they cannot (a stream
cut half-way, a checksum mismatch) without multiplying their retries further."""
SDK_ATTEMPTS = 3
"""Attempts per request the SDKs are configured for (botocore, azure-storage), and per file attempt for
google-cloud-storage (whose retry counts every request of one file together)."""
CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a connection, every SDK."""
READ_TIMEOUT = 30.0
"""Seconds to wait for the next bytes of a response (not for the whole response), every SDK."""


def backoff_delays(attempts: int, *, base: float = 0.25, cap: float = 8.0) -> Iterator[float]:
    """`attempts - 1` delays: exponential from `base`, capped, with full jitter."""
    for retry in range(attempts - 1):
        yield random.uniform(0, min(cap, base * 2**retry))


def call_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base: float = 0.25,
    classify: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn`; on a transient failure wait and call again, up to `attempts` calls in all."""
    delays = backoff_delays(attempts, base=base)
    while True:
        try:
            return fn()
        except Exception as exc:
            if not classify(exc):
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            sleep(delay)
