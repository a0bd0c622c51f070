"""The one boundary where cloud SDK exceptions become mldock storage errors naming the URI.

    with storage_errors("download", "s3://bucket/prefix"):
        client.list_objects_v2(...)          # botocore ClientError NoSuchBucket -> RemoteNotFoundError

What an exception means (not found, credentials, unreachable, HTTP status) comes from mldock.storage.classify,
the same classifier retry uses; families: botocore/boto3/s3transfer, google-api-core/google-auth/
google-cloud-storage/requests, azure-core, and OSError. Anything else is still wrapped in StorageError:
nothing from an SDK reaches the runtime untranslated.
Messages carry the URI and the SDK's one-line summary; credential values never appear in them. A transport
failure (refused or reset connection, no answer in time, a response cut short or garbled: what retries could
not get past) names the endpoint and the time limit when the remote gives them (`transport_hint`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mldock.errors import RemoteNotFoundError, StorageError
from mldock.storage.classify import classify, is_garbled_response

__all__ = ["map_sdk_error", "storage_errors"]

_MAX_SUMMARY = 300
_SAS_SIGNATURE = re.compile(r"((?:sig|AccountKey|SharedAccessSignature|X-Amz-Signature|X-Amz-Credential)=)[^&;\s]+")


def _summary(exc: BaseException) -> str:
    try:
        raw = str(exc)
    except Exception:  # some SDK exceptions cannot render themselves when half-built
        raw = ""
    text = _SAS_SIGNATURE.sub(r"\1***", raw).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= _MAX_SUMMARY else first[:_MAX_SUMMARY] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def map_sdk_error(exc: BaseException, action: str, uri: str, transport_hint: str = "") -> StorageError:
    """The StorageError (or RemoteNotFoundError) for `exc`, raised while doing `action` on `uri`;
    `transport_hint` (the endpoint and the time limit, say) is added when the endpoint is at fault."""
    if isinstance(exc, StorageError):
        return exc
    kind = classify(exc)
    status = kind.status
    summary = _summary(exc)
    if kind.not_found:
        return RemoteNotFoundError(f"{action} {uri}: not found ({summary})")
    if kind.auth:
        return StorageError(
            f"{action} {uri}: access denied or no credentials ({summary}); check the credentials the "
            "cloud SDK finds (environment variables, profile, workload identity) and their permissions"
        )
    hint = f" [{transport_hint}]" if transport_hint else ""
    if kind.connection:
        return StorageError(
            f"{action} {uri}: cannot reach the storage endpoint{hint} ({summary}); check the endpoint variable "
            "(AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST, the Azure connection string) and the network"
        )
    if is_garbled_response(exc):
        return StorageError(
            f"{action} {uri}: the storage endpoint{hint} sent a response cut short or garbled in transit, after "
            f"retries (the SDK could not read it: {_summary(exc).partition(': ')[2] or type(exc).__name__}); "
            "check the endpoint and the network"
        )
    if kind.transient and status is None and not kind.code:
        return StorageError(
            f"{action} {uri}: the storage endpoint{hint} did not answer in time, broke the connection or sent a "
            f"response cut short, after retries ({summary}); check the endpoint and the network"
        )
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return StorageError(f"{action} {uri}: local file error on {exc.filename} ({summary})")
    where = f" (HTTP {status})" if status else ""
    return StorageError(f"{action} {uri} failed{where}: {summary}")


@contextmanager
def storage_errors(action: str, uri: str, transport_hint: Callable[[], str] | None = None) -> Iterator[None]:
    """Translate any exception but mldock's own into a StorageError naming `uri` (chained with `from`);
    `transport_hint()` is asked only when an exception is mapped."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        raise map_sdk_error(exc, action, uri, transport_hint() if transport_hint else "") from exc
