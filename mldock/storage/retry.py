"""Retry transient storage failures (5xx, throttling, connection resets) with capped, jittered backoff.

    report = call_with_retry(lambda: transfer_one(item), what="s3://bucket/key")

The SDKs retry single requests themselves; this layer retries a whole file transfer (safe: every file is
written through a temporary name, and uploads overwrite), which also covers a stream cut half-way through.
Exceptions are classified by name and status code, so no SDK has to be importable here.
"""

from __future__ import annotations

import errno
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["DEFAULT_ATTEMPTS", "backoff_delays", "call_with_retry", "is_transient", "status_code_of"]

T = TypeVar("T")

DEFAULT_ATTEMPTS = 4

_TRANSIENT_CLASS_NAMES = frozenset(
    {
        # botocore / s3transfer
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "IncompleteReadError",
        "ResponseStreamingError",
        "RetriesExceededError",
        # requests / urllib3 / http.client (google-cloud-storage, azure-core)
        "ChunkedEncodingError",
        "ProtocolError",
        "RemoteDisconnected",
        "IncompleteRead",
        # azure-core
        "ServiceRequestError",
        "ServiceResponseError",
        # google-resumable-media: a checksum mismatch is re-fetched once more before it is believed
        "DataCorruption",
        # ours
        "ContentMismatch",
    }
)
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "ServerBusy", "OperationTimedOut"}
)
_TRANSIENT_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT})


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries, whichever SDK raised it."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    for attribute in ("status_code", "code"):  # azure-core HttpResponseError; google-api-core
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    if response is not None:  # google-resumable-media InvalidResponse (a requests.Response)
        value = getattr(response, "status_code", None)
        if isinstance(value, int):
            return value
    return None


def _error_code_of(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        return code if isinstance(code, str) else ""
    code = getattr(exc, "error_code", "")
    return code if isinstance(code, str) else ""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(exc: BaseException) -> bool:
    """True when retrying might help: 5xx, 429/408, throttling codes, resets, timeouts, checksum mismatches."""
    for link in _chain(exc):
        status = status_code_of(link)
        if status is not None and (status >= 500 or status in (408, 429)):
            return True
        if status is not None and 400 <= status < 500:
            return False  # a definite client error: retrying will not change the answer
        if _error_code_of(link) in _TRANSIENT_CODES:
            return True
        if any(cls.__name__ in _TRANSIENT_CLASS_NAMES for cls in type(link).__mro__):
            return True
        if isinstance(link, (ConnectionError, TimeoutError)):
            return True
        if isinstance(link, OSError) and link.errno in _TRANSIENT_ERRNOS:
            return True
    return False


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
