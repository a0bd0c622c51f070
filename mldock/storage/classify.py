"""The one place that says what an exception from a storage SDK means: retry and error mapping both ask here.

    kind = classify(exc)
    kind.transient, kind.not_found, kind.auth, kind.connection, kind.status, kind.code

Classes are matched with isinstance against each SDK's own exception classes, looked up in `sys.modules` only:
an SDK that was never imported cannot have raised, so nothing is imported here and the runtime needs only the
SDK in use. HTTP status and service error codes are read from the attributes each SDK puts them in (botocore's
`response` dict, azure-core's `status_code`/`error_code`, google-api-core's `code`, a requests `response`).

Rules: 5xx, 408, 429, the throttling codes and a body refused for its checksum (S3 BadDigest, Azure Md5Mismatch,
changed in transit) are transient, any other 4xx is not (retrying will not change the answer); connection
failures, timeouts, streams cut short and checksum mismatches are transient; so is a
ValueError (JSONDecodeError, azure-core's DeserializationError, "Invalid timestamp", a malformed Content-Range)
raised while an SDK reads a response (its traceback passes through RESPONSE_READERS): that is a response cut
short or garbled on the way, not a final answer. So is IncompleteResponse: a successful answer lacking a field
every such answer carries (an ETag, a length: headers cut short in transit), which the remotes check with
`required` before they or the SDK's transfer code read the field. The chain of causes is followed, so a
wrapped reset is still a reset. 404 and the services' "no such bucket/key" codes are "not found";
401/403 and credential failures are "auth".
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from mldock.storage.base import ContentMismatch

T = TypeVar("T")

__all__ = [
    "AUTH_CLASSES",
    "CONNECTION_CLASSES",
    "NOT_FOUND_CLASSES",
    "RESPONSE_READERS",
    "TRANSIENT_CLASSES",
    "Classified",
    "IncompleteResponse",
    "classify",
    "error_code_of",
    "is_garbled_response",
    "is_not_found",
    "is_transient",
    "required",
    "sdk_classes",
    "status_code_of",
]


class IncompleteResponse(Exception):
    """A successful response lacking a field every such response carries (its headers or body cut short in
    transit): transient, and mapped as a response cut short or garbled, never read as a final answer."""


def required(value: T | None, what: str) -> T:
    """`value`, or IncompleteResponse naming `what` (the operation and field) when the response lacked it.

    size = int(required(blob.size, "the listing's size of a blob"))
    """
    if value is None:
        raise IncompleteResponse(f"the response lacks {what}")
    return value


# (module, class name): found through sys.modules when that module has been imported.
TRANSIENT_CLASSES: tuple[tuple[str, str], ...] = (
    ("botocore.exceptions", "ConnectionError"),  # EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError
    ("botocore.exceptions", "HTTPClientError"),  # ReadTimeoutError and the other transport failures
    ("botocore.exceptions", "IncompleteReadError"),
    ("botocore.exceptions", "ResponseStreamingError"),
    ("botocore.exceptions", "ChecksumError"),
    ("botocore.exceptions", "FlexibleChecksumError"),
    ("s3transfer.exceptions", "RetriesExceededError"),
    ("boto3.exceptions", "RetriesExceededError"),
    ("requests.exceptions", "ConnectionError"),
    ("requests.exceptions", "Timeout"),
    ("requests.exceptions", "ChunkedEncodingError"),
    ("urllib3.exceptions", "ProtocolError"),
    ("urllib3.exceptions", "TimeoutError"),
    ("http.client", "RemoteDisconnected"),
    ("http.client", "IncompleteRead"),
    ("azure.core.exceptions", "ServiceRequestError"),
    ("azure.core.exceptions", "ServiceResponseError"),
    ("azure.core.exceptions", "IncompleteReadError"),
    ("google.auth.exceptions", "TransportError"),
    ("google.cloud.storage.exceptions", "DataCorruption"),
    ("google.resumable_media.common", "DataCorruption"),
)
NOT_FOUND_CLASSES: tuple[tuple[str, str], ...] = (
    ("google.api_core.exceptions", "NotFound"),
    ("azure.core.exceptions", "ResourceNotFoundError"),
)
AUTH_CLASSES: tuple[tuple[str, str], ...] = (
    ("botocore.exceptions", "NoCredentialsError"),
    ("botocore.exceptions", "PartialCredentialsError"),
    ("botocore.exceptions", "CredentialRetrievalError"),
    ("botocore.exceptions", "NoAuthTokenError"),
    ("botocore.exceptions", "TokenRetrievalError"),
    ("botocore.exceptions", "SSOError"),
    ("botocore.exceptions", "ProfileNotFound"),
    ("google.auth.exceptions", "DefaultCredentialsError"),
    ("google.auth.exceptions", "RefreshError"),
    ("azure.core.exceptions", "ClientAuthenticationError"),
    ("azure.identity", "CredentialUnavailableError"),
)
CONNECTION_CLASSES: tuple[tuple[str, str], ...] = (
    ("botocore.exceptions", "ConnectionError"),
    ("botocore.exceptions", "ProxyConnectionError"),
    ("requests.exceptions", "ConnectionError"),
    ("urllib3.exceptions", "NewConnectionError"),
    ("azure.core.exceptions", "ServiceRequestError"),
    ("google.auth.exceptions", "TransportError"),
)

RESPONSE_READERS: tuple[str, ...] = (
    "botocore/parsers.py",
    "botocore/response.py",
    "requests/models.py",
    "google/resumable_media/",
    "google/cloud/storage/_media/",
    "azure/storage/blob/_generated/",
    "azure/storage/blob/_shared/response_handlers.py",
    "azure/storage/blob/_download.py",
    "azure/core/pipeline/",
)
"""Path fragments of the SDK modules that parse responses: a ValueError raised through one of them is a
response cut short or garbled in transit (retried), not a caller's mistake."""

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "ServerBusy",
        "OperationTimedOut",
        "Throttling",
        "ThrottlingException",
        "BadDigest",  # S3: the body did not match its Content-MD5 (changed in transit)
        "Md5Mismatch",  # Azure: the same, for a block or a blob's transactional MD5
    }
)
_NOT_FOUND_CODES = frozenset(
    {"NoSuchBucket", "NoSuchKey", "NotFound", "404", "ContainerNotFound", "BlobNotFound", "ResourceNotFound"}
)
_TRANSIENT_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT})


@dataclass(frozen=True)
class Classified:
    """What an exception means for storage: retry it? missing? credentials? unreachable? (and its status/code)."""

    transient: bool
    not_found: bool
    auth: bool
    connection: bool
    status: int | None
    code: str


def sdk_classes(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The classes of `names` whose module has been imported (an SDK not imported cannot have raised)."""
    found: list[type[BaseException]] = []
    for module_name, class_name in names:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


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
    if response is not None:  # google-cloud-storage InvalidResponse, requests HTTPError (a requests.Response)
        value = getattr(response, "status_code", None)
        if isinstance(value, int):
            return value
    return None


def error_code_of(exc: BaseException) -> str:
    """The service's error code (`NoSuchBucket`, `ContainerNotFound`, ...) when the exception carries one."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        return code if isinstance(code, str) else str(code)
    code = getattr(exc, "error_code", "")
    return code if isinstance(code, str) else str(code or "")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_garbled_response(exc: BaseException) -> bool:
    """True for a ValueError raised while an SDK was reading a response (see RESPONSE_READERS) and for an
    IncompleteResponse."""
    if isinstance(exc, IncompleteResponse):
        return True
    if not isinstance(exc, ValueError):
        return False
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if any(fragment in filename for fragment in RESPONSE_READERS):
            return True
        tb = tb.tb_next
    return False


def is_transient(exc: BaseException) -> bool:
    """True when retrying might help: 5xx, 429/408, throttling codes, resets, timeouts, checksum mismatches,
    responses cut short or garbled."""
    transient_classes = (*sdk_classes(TRANSIENT_CLASSES), ContentMismatch, ConnectionError, TimeoutError)
    for link in _chain(exc):
        status = status_code_of(link)
        if status is not None and (status >= 500 or status in (408, 429)):
            return True
        if error_code_of(link) in _TRANSIENT_CODES:  # some come with a 400 (RequestTimeout, BadDigest)
            return True
        if status is not None and 400 <= status < 500:
            return False  # a definite client error: retrying will not change the answer
        if isinstance(link, transient_classes):
            return True
        if isinstance(link, OSError) and link.errno in _TRANSIENT_ERRNOS:
            return True
        if is_garbled_response(link):
            return True
    return False


def is_not_found(exc: BaseException) -> bool:
    """True for a missing bucket/container/object, in any SDK's spelling."""
    return (
        status_code_of(exc) == 404
        or error_code_of(exc) in _NOT_FOUND_CODES
        or isinstance(exc, sdk_classes(NOT_FOUND_CLASSES))
    )


def classify(exc: BaseException) -> Classified:
    """Everything the storage layer needs to know about `exc`."""
    status = status_code_of(exc)
    return Classified(
        transient=is_transient(exc),
        not_found=is_not_found(exc),
        auth=status in (401, 403) or isinstance(exc, sdk_classes(AUTH_CLASSES)),
        connection=isinstance(exc, (*sdk_classes(CONNECTION_CLASSES), ConnectionError, TimeoutError)),
        status=status,
        code=error_code_of(exc),
    )
