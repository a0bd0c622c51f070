"""The `gs://bucket/prefix` remote: google-cloud-storage, files moved on a thread pool.

    GCSRemote(environ=gcs_emulator.env()).upload(Path("/opt/ml/model/main"), parse_uri("gs://models/run-1"))

The client is made from the `environ` mapping given (os.environ when None, read when the client is made):
with STORAGE_EMULATOR_HOST, that endpoint (client_options api_endpoint), anonymous credentials and the project
GOOGLE_CLOUD_PROJECT names; otherwise the key file GOOGLE_APPLICATION_CREDENTIALS names (with that project, else
the file's), and without one Application Default Credentials (workload identity, the metadata server, gcloud).
Proxies and the CA bundle are pinned on the client's session from the same mapping. Nothing is written anywhere.

Retries: every call gets an explicit google-api-core Retry (mldock's classifier as its predicate, jittered
delays from 0.5 s doubling to at most 4 s) that stops after SDK_ATTEMPTS - 1 retries counted over all the
requests of one file attempt, and an explicit (connect, read) timeout pair from MLDOCK_STORAGE_TIMEOUT
(mldock.storage.retry.Timeouts; TIMEOUT is the default pair); uploads, which overwrite, are
retried too. mldock then tries a file DEFAULT_ATTEMPTS times. See docs/storage.md, "Retries and time limits".

Downloads stream
to disk as stored (`raw_download`: no client-side gunzip, so the bytes match the listed size and the stored
CRC32C, and the per-chunk cost is lower) and are checked by the SDK against the object's CRC32C (or MD5);
objects up to 1 MiB are read in one piece. Uploads send a CRC32C the server checks; objects above 32 MiB are
uploaded resumably in 32 MiB chunks, so memory stays bounded (large files move 2 at a time).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mldock.errors import StorageError
from mldock.storage.blob import DEFAULT_CONCURRENCY, BlobRemote, Listed, Progress, run_parallel
from mldock.storage.classify import is_transient, required
from mldock.storage.http import pin_environment
from mldock.storage.retry import CONNECT_TIMEOUT, DEFAULT_ATTEMPTS, READ_TIMEOUT, SDK_ATTEMPTS

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["GCSRemote", "make_client", "request_retry"]

MiB = 1024 * 1024
CHUNK_SIZE = 32 * MiB  # a multiple of 256 KiB, as the resumable upload protocol requires
SINGLE_SHOT = 1 * MiB  # objects up to this size are read in one piece (no per-8-KiB iteration)
RETRY_INITIAL = 0.5
RETRY_MAXIMUM = 4.0
RETRY_MULTIPLIER = 2.0
TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT)


def request_retry(attempts: int = SDK_ATTEMPTS) -> Any:
    """A fresh google-api-core Retry for one file attempt (or one call): transient errors as mldock classifies
    them, at most `attempts - 1` retries over all the requests it wraps, no deadline of its own."""
    from google.api_core.retry import Retry

    retries = [0]
    lock = threading.Lock()

    def predicate(exc: Exception) -> bool:
        if not is_transient(exc):
            return False
        with lock:
            retries[0] += 1
            return retries[0] < attempts

    return Retry(
        predicate=predicate, initial=RETRY_INITIAL, maximum=RETRY_MAXIMUM, multiplier=RETRY_MULTIPLIER, timeout=None
    )


def make_client(environ: Mapping[str, str] | None = None, *, pool_size: int = 10) -> Any:
    """A google-cloud-storage client built from `environ` (os.environ when None), session pinned to its endpoint."""
    import google.cloud.storage as storage  # the SDK of the gs:// scheme, imported only when that scheme is used

    env = os.environ if environ is None else environ
    project = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCLOUD_PROJECT") or None
    emulator = env.get("STORAGE_EMULATOR_HOST")
    key_file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if emulator:
        from google.auth.credentials import AnonymousCredentials

        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        client = storage.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )
    elif key_file:
        from google.auth import load_credentials_from_file
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, file_project = load_credentials_from_file(  # type: ignore[no-untyped-call]
                key_file, scopes=storage.Client.SCOPE
            )
        except DefaultCredentialsError as exc:
            raise StorageError(f"GOOGLE_APPLICATION_CREDENTIALS ({key_file}) is not a usable key file: {exc}") from exc
        client = storage.Client(project=project or file_project, credentials=credentials)
    else:
        from google.auth.exceptions import DefaultCredentialsError as NoCredentials

        try:
            client = storage.Client(project=project) if project else storage.Client()
        except NoCredentials as exc:
            raise StorageError(
                "no Google Cloud credentials found: set GOOGLE_APPLICATION_CREDENTIALS or run on a platform "
                "with a service account (for the emulator set STORAGE_EMULATOR_HOST)"
            ) from exc
    try:  # one pooled connection per worker thread (requests keeps 10 by default)
        from requests.adapters import HTTPAdapter

        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        client._http.mount("https://", adapter)
        client._http.mount("http://", adapter)
        pin_environment(client._http, client.api_endpoint, env)
    except (ImportError, AttributeError):
        pass
    return client


class _CountingWriter:
    """Passes writes to `handle`, reporting each one's size to `progress`."""

    def __init__(self, handle: IO[bytes], progress: Progress) -> None:
        self._handle = handle
        self._progress = progress

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        self._progress(len(data))
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class _CountingReader:
    """Passes reads from `handle`, reporting their size; a rewind (retry) counts the bytes again."""

    def __init__(self, handle: IO[bytes], progress: Progress) -> None:
        self._handle = handle
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._progress(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class GCSRemote(BlobRemote):
    """Remote for `gs://` URIs, its client made lazily from `environ` (os.environ when None); `client`
    overrides it (tests)."""

    scheme = "gs"
    large_file_concurrency = 2  # downloads are client-CPU-bound (GIL): more threads only contend

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        client: Any = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        attempts: int = DEFAULT_ATTEMPTS,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(
            environ=environ, max_concurrency=max_concurrency, attempts=attempts, from_settings=client is None
        )
        self.chunk_size = chunk_size
        self.timeout = (self.timeouts.connect, self.timeouts.read)
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        return make_client(self.environ, pool_size=self.max_concurrency)

    def _endpoint(self) -> str:
        return str(self.client.api_endpoint or self.client._connection.API_BASE_URL)

    def _bucket(self, name: str) -> Any:
        return self.client.bucket(name)

    def _iter_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        fields = "items(name,size),nextPageToken"
        listing = self.client.list_blobs(
            bucket, prefix=prefix or None, fields=fields, retry=request_retry(), timeout=self.timeout
        )
        for blob in listing:
            size = required(blob.size, f"the size of {blob.name} in a Cloud Storage listing")
            yield blob.name, int(size), None  # the SDK checks CRC32C/MD5 on download itself

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        blob = self._bucket(bucket).get_blob(key, retry=request_retry(), timeout=self.timeout)
        if blob is None:
            return None
        return int(required(blob.size, f"the size of gs://{bucket}/{key} in its metadata")), None

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        blob = self._bucket(bucket).blob(item.key)
        blob.download_to_file(
            _CountingWriter(handle, progress),
            checksum="auto",
            raw_download=True,
            single_shot_download=item.size <= SINGLE_SHOT,
            retry=request_retry(),
            timeout=self.timeout,
        )

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        blob = self._bucket(bucket).blob(key, chunk_size=self.chunk_size)
        with open(path, "rb") as handle:
            blob.upload_from_file(
                _CountingReader(handle, progress),
                size=size,
                checksum="auto",
                rewind=False,
                retry=request_retry(),
                timeout=self.timeout,
            )

    def _bucket_exists(self, bucket: str) -> bool:
        from google.api_core.exceptions import Forbidden

        try:
            return self.client.lookup_bucket(bucket, retry=request_retry(), timeout=self.timeout) is not None
        except Forbidden:
            return True  # may not read bucket metadata but may write objects: let the upload say

    def _create_bucket(self, bucket: str) -> None:
        self.client.create_bucket(bucket, retry=request_retry(), timeout=self.timeout)

    def _list_buckets(self) -> Iterator[str]:
        for found in self.client.list_buckets(retry=request_retry(), timeout=self.timeout):
            yield found.name

    def _delete_bucket(self, bucket: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            listing = self.client.list_blobs(
                bucket, fields="items(name),nextPageToken", retry=request_retry(), timeout=self.timeout
            )
            names = [blob.name for blob in listing]
            target = self._bucket(bucket)

            def delete(name: str) -> None:
                with contextlib.suppress(NotFound):  # deleted meanwhile
                    target.delete_blob(name, retry=request_retry(), timeout=self.timeout)

            run_parallel(delete, names, self.max_concurrency)
            target.delete(retry=request_retry(), timeout=self.timeout)
        except NotFound:
            return
