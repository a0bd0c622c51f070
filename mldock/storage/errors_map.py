"""The one boundary where cloud SDK exceptions become mldock storage errors naming the URI.

    with storage_errors("download", "s3://bucket/prefix"):
        client.list_objects_v2(...)          # botocore ClientError NoSuchBucket -> RemoteNotFoundError

Families handled (matched by class name and HTTP status, so no SDK has to be importable):
botocore/boto3/s3transfer (ClientError, BotoCoreError, S3UploadFailedError, RetriesExceededError),
google-api-core/google-auth/google-resumable-media/requests (GoogleAPICallError, GoogleAuthError,
InvalidResponse, DataCorruption, RequestException), azure-core (AzureError and its subclasses), and OSError.
Anything else is still wrapped in StorageError: nothing from an SDK reaches the runtime untranslated.
Messages carry the URI and the SDK's one-line summary; credential values never appear in them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from mldock.errors import RemoteNotFoundError, StorageError
from mldock.storage.retry import status_code_of

__all__ = ["is_not_found", "map_sdk_error", "storage_errors"]

_NOT_FOUND_CODES = frozenset(
    {"NoSuchBucket", "NoSuchKey", "NotFound", "404", "ContainerNotFound", "BlobNotFound", "ResourceNotFound"}
)
_NOT_FOUND_CLASSES = frozenset({"NotFound", "ResourceNotFoundError", "NoSuchBucket", "NoSuchKey"})
_AUTH_CLASSES = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "DefaultCredentialsError",
        "RefreshError",
        "GoogleAuthError",
        "ClientAuthenticationError",
        "CredentialUnavailableError",
    }
)
_CONNECTION_CLASSES = frozenset(
    {"EndpointConnectionError", "ConnectionError", "ServiceRequestError", "ConnectTimeoutError", "ProxyError"}
)
_MAX_SUMMARY = 300
_SAS_SIGNATURE = re.compile(r"((?:sig|AccountKey|SharedAccessSignature|X-Amz-Signature|X-Amz-Credential)=)[^&;\s]+")


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        return str(code)
    return str(getattr(exc, "error_code", "") or "")


def _summary(exc: BaseException) -> str:
    try:
        raw = str(exc)
    except Exception:  # some SDK exceptions cannot render themselves when half-built
        raw = ""
    text = _SAS_SIGNATURE.sub(r"\1***", raw).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= _MAX_SUMMARY else first[:_MAX_SUMMARY] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def is_not_found(exc: BaseException) -> bool:
    """True for a missing bucket/container/object, in any SDK's spelling."""
    return status_code_of(exc) == 404 or _error_code(exc) in _NOT_FOUND_CODES or bool(_names(exc) & _NOT_FOUND_CLASSES)


def map_sdk_error(exc: BaseException, action: str, uri: str) -> StorageError:
    """The StorageError (or RemoteNotFoundError) for `exc`, raised while doing `action` on `uri`."""
    if isinstance(exc, StorageError):
        return exc
    names = _names(exc)
    status = status_code_of(exc)
    summary = _summary(exc)
    if is_not_found(exc):
        return RemoteNotFoundError(f"{action} {uri}: not found ({summary})")
    if names & _AUTH_CLASSES or status in (401, 403):
        return StorageError(
            f"{action} {uri}: access denied or no credentials ({summary}); check the credentials the "
            "cloud SDK finds (environment variables, profile, workload identity) and their permissions"
        )
    if names & _CONNECTION_CLASSES or isinstance(exc, (ConnectionError, TimeoutError)):
        return StorageError(
            f"{action} {uri}: cannot reach the storage endpoint ({summary}); check the endpoint variable "
            "(AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST, the Azure connection string) and the network"
        )
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return StorageError(f"{action} {uri}: local file error on {exc.filename} ({summary})")
    where = f" (HTTP {status})" if status else ""
    return StorageError(f"{action} {uri} failed{where}: {summary}")


@contextmanager
def storage_errors(action: str, uri: str) -> Iterator[None]:
    """Translate any exception but mldock's own into a StorageError naming `uri` (chained with `from`)."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        raise map_sdk_error(exc, action, uri) from exc
