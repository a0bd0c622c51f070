"""The `az://container/prefix` remote: azure-storage-blob, parallel per file and per block.

    AzureRemote().download("az://data/train", Path("/opt/ml/input/data/train"))

The account comes from AZURE_STORAGE_CONNECTION_STRING (Azurite's, or a real account's); failing that from
AZURE_STORAGE_ACCOUNT_URL (or AZURE_STORAGE_ACCOUNT, giving https://<account>.blob.core.windows.net) with
AZURE_STORAGE_KEY, or with DefaultAzureCredential when azure-identity is installed, or with a SAS already in
the URL. Blobs above 8 MiB move as 8 MiB blocks / 4 MiB ranges, several at once (`max_concurrency`), every
request with a transactional MD5 the SDK and the service check (`validate_content`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mldock.errors import StorageError
from mldock.storage.blob import DEFAULT_CONCURRENCY, BlobRemote, Listed, Progress
from mldock.storage.errors_map import is_not_found
from mldock.storage.retry import DEFAULT_ATTEMPTS

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["AzureRemote", "service_client_from_env"]

MiB = 1024 * 1024
BLOCK_SIZE = 8 * MiB
GET_CHUNK = 4 * MiB  # validate_content requires ranges of at most 4 MiB
PER_BLOB_CONCURRENCY = 4

CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_URL = "AZURE_STORAGE_ACCOUNT_URL"
ACCOUNT = "AZURE_STORAGE_ACCOUNT"
ACCOUNT_KEY = "AZURE_STORAGE_KEY"


def service_client_from_env(environ: Mapping[str, str] | None = None, *, pool_size: int = 32) -> Any:
    """A BlobServiceClient for the account the environment names (StorageError saying what to set if none)."""
    from azure.storage.blob import BlobServiceClient

    env = os.environ if environ is None else environ
    options: dict[str, Any] = {
        "max_single_put_size": BLOCK_SIZE,
        "max_block_size": BLOCK_SIZE,
        "max_single_get_size": GET_CHUNK,
        "max_chunk_get_size": GET_CHUNK,
    }
    transport = _pooled_transport(pool_size)
    if transport is not None:
        options["transport"] = transport
    connection_string = env.get(CONNECTION_STRING)
    if connection_string:
        try:
            return BlobServiceClient.from_connection_string(connection_string, **options)
        except ValueError as exc:  # the message would not leak the key, but say only what matters
            raise StorageError(f"{CONNECTION_STRING} is not a valid Azure Storage connection string") from exc
    account_url = env.get(ACCOUNT_URL) or (f"https://{env[ACCOUNT]}.blob.core.windows.net" if env.get(ACCOUNT) else "")
    if not account_url:
        raise StorageError(
            f"no Azure Storage account configured: set {CONNECTION_STRING}, or {ACCOUNT_URL} / {ACCOUNT} "
            f"(with {ACCOUNT_KEY}, or azure-identity installed for a managed identity / service principal)"
        )
    credential: Any = env.get(ACCOUNT_KEY) or _default_credential()
    return BlobServiceClient(account_url, credential=credential, **options)


def _default_credential() -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        return None  # a SAS in the account URL, or a public container
    return DefaultAzureCredential()


def _pooled_transport(pool_size: int) -> Any:
    """A requests transport keeping one connection per worker thread (requests keeps 10 by default)."""
    try:
        import requests
        from azure.core.pipeline.transport import RequestsTransport
        from requests.adapters import HTTPAdapter
    except ImportError:
        return None
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=False)


class AzureRemote(BlobRemote):
    """Remote for `az://container/prefix` URIs. `client` overrides the BlobServiceClient (tests)."""

    scheme = "az"

    def __init__(
        self,
        *,
        client: Any = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        attempts: int = DEFAULT_ATTEMPTS,
        per_blob_concurrency: int = PER_BLOB_CONCURRENCY,
    ) -> None:
        super().__init__(max_concurrency=max_concurrency, attempts=attempts)
        self.per_blob_concurrency = per_blob_concurrency
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = service_client_from_env(pool_size=self.max_concurrency * self.per_blob_concurrency)
            return self._client

    def _iter_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        container = self.client.get_container_client(bucket)
        for blob in container.list_blobs(name_starts_with=prefix or None):
            yield blob.name, int(blob.size or 0), None  # checked per request by validate_content

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        try:
            props = self.client.get_blob_client(bucket, key).get_blob_properties()
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return int(props.size), None

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        blob = self.client.get_blob_client(bucket, item.key)
        hook = _delta_hook(progress)
        stream = blob.download_blob(
            max_concurrency=self.per_blob_concurrency, validate_content=True, progress_hook=hook
        )
        stream.readinto(handle)

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        blob = self.client.get_blob_client(bucket, key)
        with open(path, "rb") as handle:
            blob.upload_blob(
                handle,
                length=size,
                overwrite=True,
                max_concurrency=self.per_blob_concurrency,
                validate_content=True,
                progress_hook=_delta_hook(progress),
            )

    def _bucket_exists(self, bucket: str) -> bool:
        from azure.core.exceptions import HttpResponseError

        try:
            return bool(self.client.get_container_client(bucket).exists())
        except HttpResponseError as exc:
            if exc.status_code == 403:
                return True  # may not read container properties but may write blobs: let the upload say
            raise

    def _create_bucket(self, bucket: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):  # created meanwhile by a parallel upload
            self.client.create_container(bucket)


def _delta_hook(progress: Progress) -> Any:
    """Turn azure's cumulative `progress_hook(current, total)` into byte deltas for `progress`."""
    last = [0]
    lock = threading.Lock()

    def hook(current: int, total: int | None) -> None:
        with lock:
            delta, last[0] = current - last[0], current
        progress(delta)

    return hook
