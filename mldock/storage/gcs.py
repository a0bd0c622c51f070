"""The `gs://bucket/prefix` remote: google-cloud-storage, files moved on a thread pool.

    GCSRemote().upload(Path("/opt/ml/model/main"), "gs://models/run-1")

`storage.Client()` finds the endpoint and credentials itself: STORAGE_EMULATOR_HOST (then anonymous
credentials and GOOGLE_CLOUD_PROJECT, as the SDK does) or Application Default Credentials. Downloads stream
to disk as stored (`raw_download`: no client-side gunzip, so the bytes match the listed size and the stored
CRC32C, and the per-chunk cost is lower) and are checked by the SDK against the object's CRC32C (or MD5);
objects up to 1 MiB are read in one piece. Uploads send a CRC32C the server checks; objects above 32 MiB are
uploaded resumably in 32 MiB chunks, so memory stays bounded (large files move 2 at a time).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mldock.errors import StorageError
from mldock.storage.blob import DEFAULT_CONCURRENCY, BlobRemote, Listed, Progress
from mldock.storage.http import pin_environment
from mldock.storage.retry import DEFAULT_ATTEMPTS

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["GCSRemote"]

MiB = 1024 * 1024
CHUNK_SIZE = 32 * MiB  # a multiple of 256 KiB, as the resumable upload protocol requires
SINGLE_SHOT = 1 * MiB  # objects up to this size are read in one piece (no per-8-KiB iteration)


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
    """Remote for `gs://` URIs. `client` overrides the storage client (tests); otherwise one is made lazily."""

    scheme = "gs"
    large_file_concurrency = 2  # downloads are client-CPU-bound (GIL): more threads only contend

    def __init__(
        self,
        *,
        client: Any = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        attempts: int = DEFAULT_ATTEMPTS,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(max_concurrency=max_concurrency, attempts=attempts)
        self.chunk_size = chunk_size
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage

        try:
            client = storage.Client()
        except DefaultCredentialsError as exc:
            raise StorageError(
                "no Google Cloud credentials found: set GOOGLE_APPLICATION_CREDENTIALS or run on a platform "
                "with a service account (for the emulator set STORAGE_EMULATOR_HOST)"
            ) from exc
        try:  # one pooled connection per worker thread (requests keeps 10 by default)
            from requests.adapters import HTTPAdapter

            adapter = HTTPAdapter(pool_connections=self.max_concurrency, pool_maxsize=self.max_concurrency)
            client._http.mount("https://", adapter)
            client._http.mount("http://", adapter)
            pin_environment(client._http, client.api_endpoint)
        except (ImportError, AttributeError):
            pass
        return client

    def _bucket(self, name: str) -> Any:
        return self.client.bucket(name)

    def _iter_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        for blob in self.client.list_blobs(bucket, prefix=prefix or None, fields="items(name,size),nextPageToken"):
            yield blob.name, int(blob.size or 0), None  # the SDK checks CRC32C/MD5 on download itself

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        blob = self._bucket(bucket).get_blob(key)
        return None if blob is None else (int(blob.size or 0), None)

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        blob = self._bucket(bucket).blob(item.key)
        blob.download_to_file(
            _CountingWriter(handle, progress),
            checksum="auto",
            raw_download=True,
            single_shot_download=item.size <= SINGLE_SHOT,
        )

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        blob = self._bucket(bucket).blob(key, chunk_size=self.chunk_size)
        with open(path, "rb") as handle:
            blob.upload_from_file(_CountingReader(handle, progress), size=size, checksum="auto", rewind=False)

    def _bucket_exists(self, bucket: str) -> bool:
        from google.api_core.exceptions import Forbidden

        try:
            return self.client.lookup_bucket(bucket) is not None
        except Forbidden:
            return True  # may not read bucket metadata but may write objects: let the upload say

    def _create_bucket(self, bucket: str) -> None:
        self.client.create_bucket(bucket)
