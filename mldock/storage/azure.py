"""The `az://container/prefix` remote: azure-storage-blob, parallel per file and per block.

    AzureRemote(environ=azurite.env()).download(parse_uri("az://data/train"), Path("/opt/ml/input/data/train"))

The account comes from the `environ` mapping given (os.environ when None, read when the client is made):
AZURE_STORAGE_CONNECTION_STRING (Azurite's, or a real account's); failing that AZURE_STORAGE_ACCOUNT_URL (or
AZURE_STORAGE_ACCOUNT, giving https://<account>.blob.core.windows.net) with AZURE_STORAGE_KEY, or with
DefaultAzureCredential when azure-identity is installed, or with a SAS already in the URL. Proxies and the CA
bundle come from the same mapping. Nothing is written anywhere.

Retries: azure-storage's ExponentialRetry set explicitly (SDK_ATTEMPTS attempts per request, delays of
2**retry +/- 1 s), the connect/read timeouts MLDOCK_STORAGE_TIMEOUT sets on the transport; the SDK's
downloader also re-reads a range whose body broke (3 tries, 1 s apart, fixed in the SDK). mldock then tries a
file DEFAULT_ATTEMPTS times.
See docs/storage.md, "Retries and time limits".

Blobs above 8 MiB are uploaded as 8 MiB blocks, several at once, each with a transactional MD5 the service
checks (`validate_content`); the whole file's MD5 is stored as the blob's Content-MD5 (a single Put Blob
gets one from the service). A download of a blob that has a Content-MD5 streams in large ranges and checks the
file's MD5 before the rename; one without (written by a tool that sets none) falls back to 4 MiB ranges each
checked with a transactional MD5, which costs about four times the CPU."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mldock.errors import StorageError
from mldock.storage.base import ContentMismatch
from mldock.storage.blob import DEFAULT_CONCURRENCY, BlobRemote, Listed, Progress, md5_of_fd, md5_of_file
from mldock.storage.classify import is_not_found, required, status_code_of
from mldock.storage.http import ca_bundle, pin_environment
from mldock.storage.retry import DEFAULT_ATTEMPTS, SDK_ATTEMPTS, Timeouts, timeouts_from

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["AzureRemote", "service_client_from_env"]

MiB = 1024 * 1024
BLOCK_SIZE = 8 * MiB
GET_CHUNK = 4 * MiB  # validate_content requires ranges of at most 4 MiB
BULK_FIRST_GET = 32 * MiB  # blobs with a Content-MD5: one GET up to this size, then ranges of BULK_GET_CHUNK
BULK_GET_CHUNK = 16 * MiB
PER_BLOB_CONCURRENCY = 4
DATA_BLOCK_SIZE = 256 * 1024  # azure-storage-blob's own transport settings (its _shared/constants.py)
RETRY_INITIAL_BACKOFF = 0  # ExponentialRetry sleeps initial + increment_base**retry, +/- the jitter range
RETRY_INCREMENT_BASE = 2
RETRY_JITTER = 1
BULK_PER_BLOB_CONCURRENCY = 1  # a blob checked as a whole streams in one thread: the client CPU is the bound

CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_URL = "AZURE_STORAGE_ACCOUNT_URL"
ACCOUNT = "AZURE_STORAGE_ACCOUNT"
ACCOUNT_KEY = "AZURE_STORAGE_KEY"


def service_client_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    pool_size: int = 32,
    first_get: int = GET_CHUNK,
    get_chunk: int = GET_CHUNK,
    timeouts: Timeouts | None = None,
) -> Any:
    """A BlobServiceClient for the account the environment names (StorageError saying what to set if none).

    `first_get`/`get_chunk` size a download's first GET and its further ranges (at most 4 MiB when each range
    is checked with a transactional MD5)."""

    from azure.storage.blob import ExponentialRetry  # the SDK of the az:// scheme, imported only for it

    env = os.environ if environ is None else environ
    timeouts = timeouts or timeouts_from(env)
    options: dict[str, Any] = {
        "max_single_put_size": BLOCK_SIZE,
        "max_block_size": BLOCK_SIZE,
        "max_single_get_size": first_get,
        "max_chunk_get_size": get_chunk,
        "retry_policy": ExponentialRetry(
            initial_backoff=RETRY_INITIAL_BACKOFF,
            increment_base=RETRY_INCREMENT_BASE,
            retry_total=SDK_ATTEMPTS - 1,
            random_jitter_range=RETRY_JITTER,
        ),
        "connection_timeout": timeouts.connect,
        "read_timeout": timeouts.read,
    }
    session, transport = _pooled_transport(pool_size, env, timeouts)
    if transport is not None:
        options["transport"] = transport
    client = _make_service_client(env, options)
    if session is not None:
        pin_environment(session, client.url, env)
    return client


def _make_service_client(env: Mapping[str, str], options: dict[str, Any]) -> Any:
    from azure.storage.blob import BlobServiceClient

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


def _pooled_transport(pool_size: int, env: Mapping[str, str], timeouts: Timeouts) -> tuple[Any, Any]:
    """(session, transport): requests keeping one connection per worker thread (it keeps 10 by default)."""
    try:
        import requests
        from azure.core.pipeline.transport import RequestsTransport
        from requests.adapters import HTTPAdapter
    except ImportError:
        return None, None
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # the settings azure-storage-blob gives the transport it makes itself (a transport passed in keeps
    # azure-core's defaults, among them 4 KiB reads: 2.5x the client CPU of a large download)
    return session, RequestsTransport(
        session=session,
        session_owner=False,
        connection_data_block_size=DATA_BLOCK_SIZE,
        connection_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        connection_verify=ca_bundle(env) or True,  # azure-core passes it on each request: the session's is ignored
    )


class AzureRemote(BlobRemote):
    """Remote for `az://container/prefix` URIs, its clients made lazily from `environ` (os.environ when None);
    `client` overrides them (tests)."""

    scheme = "az"
    large_file_concurrency = 2  # each large blob already moves in parallel ranges/blocks

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        client: Any = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        attempts: int = DEFAULT_ATTEMPTS,
        per_blob_concurrency: int = PER_BLOB_CONCURRENCY,
    ) -> None:
        super().__init__(
            environ=environ, max_concurrency=max_concurrency, attempts=attempts, from_settings=client is None
        )
        self.per_blob_concurrency = per_blob_concurrency
        self._client = client
        self._bulk_client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = service_client_from_env(
                    self.environ, pool_size=self.max_concurrency * self.per_blob_concurrency, timeouts=self.timeouts
                )
            return self._client

    @property
    def bulk_client(self) -> Any:
        """The client for downloads checked by the blob's whole Content-MD5: large ranges, no per-range MD5."""
        with self._lock:
            if self._bulk_client is None:
                self._bulk_client = service_client_from_env(
                    self.environ,
                    pool_size=self.max_concurrency * BULK_PER_BLOB_CONCURRENCY,
                    first_get=BULK_FIRST_GET,
                    get_chunk=BULK_GET_CHUNK,
                    timeouts=self.timeouts,
                )
            return self._bulk_client

    def _endpoint(self) -> str:
        return str(self.client.url)

    def _iter_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        container = self.client.get_container_client(bucket)
        for blob in container.list_blobs(name_starts_with=prefix or None):
            size = required(blob.size, f"the Content-Length of {blob.name} in a blob listing")
            yield blob.name, int(size), _md5_hex(blob.content_settings)

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        try:
            props = self.client.get_blob_client(bucket, key).get_blob_properties()
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        size = required(props.size, f"the Content-Length of az://{bucket}/{key} in its properties")
        return int(size), _md5_hex(props.content_settings)

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        hook = _delta_hook(progress)
        if item.md5 is not None:  # checked as a whole by _verify: large ranges, no per-range MD5
            stream = self.bulk_client.get_blob_client(bucket, item.key).download_blob(
                max_concurrency=min(self.per_blob_concurrency, BULK_PER_BLOB_CONCURRENCY), progress_hook=hook
            )
        else:
            stream = self.client.get_blob_client(bucket, item.key).download_blob(
                max_concurrency=self.per_blob_concurrency, validate_content=True, progress_hook=hook
            )
        stream.readinto(handle)

    def _verify(self, item: Listed, handle: IO[bytes], uri: str) -> None:
        super()._verify(item, handle, uri)
        if item.md5 is not None:
            digest = md5_of_fd(handle.fileno(), item.size)
            if digest != item.md5:
                raise ContentMismatch(f"{uri}: MD5 {digest} does not match the blob's Content-MD5 {item.md5}")

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        from azure.storage.blob import ContentSettings

        blob = self.client.get_blob_client(bucket, key)
        options: dict[str, Any] = {}
        if size > BLOCK_SIZE:  # a block list gets no Content-MD5 from the service: store the file's own
            options["content_settings"] = ContentSettings(content_md5=bytearray(md5_of_file(path)))
        with open(path, "rb") as handle:
            blob.upload_blob(
                handle,
                length=size,
                overwrite=True,
                max_concurrency=self.per_blob_concurrency,
                validate_content=True,
                progress_hook=_delta_hook(progress),
                **options,
            )

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            return bool(self.client.get_container_client(bucket).exists())
        except Exception as exc:
            if status_code_of(exc) == 403:
                return True  # may not read container properties but may write blobs: let the upload say
            raise

    def _create_bucket(self, bucket: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):  # created meanwhile by a parallel upload
            self.client.create_container(bucket)

    def _list_buckets(self) -> Iterator[str]:
        for found in self.client.list_containers():
            yield found.name

    def _delete_bucket(self, bucket: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):  # the service deletes the blobs with the container
            self.client.delete_container(bucket)


def _md5_hex(content_settings: Any) -> str | None:
    """The blob's whole-content MD5 as hex, when it has one."""
    digest = getattr(content_settings, "content_md5", None)
    return bytes(digest).hex() if digest else None


def _delta_hook(progress: Progress) -> Any:
    """Turn azure's cumulative `progress_hook(current, total)` into byte deltas for `progress`."""
    last = [0]
    lock = threading.Lock()

    def hook(current: int, total: int | None) -> None:
        with lock:
            delta, last[0] = current - last[0], current
        progress(delta)

    return hook
