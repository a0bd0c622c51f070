"""What the cloud remotes (s3, gs, az) share: listing below a prefix, planning, parallel transfers.

A cloud remote subclasses BlobRemote and supplies six SDK primitives (`_iter_objects`, `_stat_object`,
`_download_object`, `_upload_file`, `_bucket_exists`, `_create_bucket`). This module does the rest, the same
way for every cloud:

- `uri` names a prefix: objects below `prefix/` are transferred keeping their structure; when there are none
  and an object called exactly `prefix` exists, that single object lands in `dest` under its own name.
- Every key is checked with `local_path_for_key` before anything is written; one bad key refuses the lot.
- Keys ending in `/` (folder markers) become folders, no file. Files are written with `atomic_write`
  and their size checked before the rename; the SDK's checksum is checked by the SDK (or by `_verify`).
- Files move on a thread pool (small ones 16 at a time, those of 8 MiB and more 4 at a time, since the SDK
  already splits each into parallel parts); each file is retried on transient errors; the first hard failure cancels
  what has not started and is raised as a StorageError naming the URI.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from mldock.errors import RemoteNotFoundError, StorageError
from mldock.storage.base import (
    ObjectInfo,
    ProgressCallback,
    RemoteURI,
    TransferReport,
    atomic_write,
    local_path_for_key,
    parse_uri,
)
from mldock.storage.errors_map import storage_errors
from mldock.storage.retry import DEFAULT_ATTEMPTS, call_with_retry

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BlobRemote",
    "ContentMismatch",
    "Listed",
    "Progress",
    "md5_of_fd",
    "md5_of_file",
    "run_parallel",
]

DEFAULT_CONCURRENCY = 16
LARGE_FILE = 8 * 1024 * 1024
PARTIAL_SUFFIX = ".mldock-partial"
_HASH_CHUNK = 1024 * 1024

T = TypeVar("T")
R = TypeVar("R")


class ContentMismatch(StorageError):
    """A transferred file's size or checksum differs from the object's (retried, then raised)."""


@dataclass(frozen=True)
class Listed:
    """One object as listed: full key, key relative to the listed prefix, size, and SDK extras."""

    key: str
    rel: str
    size: int
    md5: str | None = None  # hex, when the listing gives a whole-object MD5


class Progress:
    """Serialises calls to the user's progress callback, so it need not be thread-safe."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        if self._callback is not None and count:
            with self._lock:
                self._callback(count)


def run_parallel(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """`[fn(i) for i in items]` on a thread pool; the first failure cancels the rest and is raised."""
    if not items:
        return []
    if workers <= 1 or len(items) == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="mldock-transfer") as pool:
        futures: list[Future[R]] = [pool.submit(fn, item) for item in items]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]


def md5_of_fd(fd: int, size: int) -> str:
    """MD5 hex of the first `size` bytes of the open file `fd` (hashlib releases the GIL on 1 MiB reads)."""
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(_HASH_CHUNK, size - offset), offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def md5_of_file(path: Path) -> bytes:
    """MD5 digest of the file at `path`."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return bytes.fromhex(md5_of_fd(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)


def folder_prefix(prefix: str) -> str:
    """`a/b` -> `a/b/`; the bucket root stays ``."""
    return prefix.rstrip("/") + "/" if prefix.strip("/") else ""


class BlobRemote:
    """Base of the cloud remotes; `max_concurrency` files move at once, `attempts` tries per file."""

    scheme: str = ""

    large_file_concurrency: int = 4

    def __init__(self, *, max_concurrency: int = DEFAULT_CONCURRENCY, attempts: int = DEFAULT_ATTEMPTS) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.attempts = max(1, attempts)

    # -- SDK primitives, supplied by each cloud ------------------------------------------------------------

    def _iter_objects(self, bucket: str, prefix: str) -> Iterable[tuple[str, int, str | None]]:
        """(key, size, md5 hex or None) of every object whose key starts with `prefix`; a missing bucket
        raises (the SDK's not-found error is fine: it is mapped)."""
        raise NotImplementedError

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        """(size, md5) of the object `key`, or None when it does not exist."""
        raise NotImplementedError

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        """Stream the object into `handle` (a fresh temporary file), verifying what the SDK can."""
        raise NotImplementedError

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        raise NotImplementedError

    def _bucket_exists(self, bucket: str) -> bool:
        raise NotImplementedError

    def _create_bucket(self, bucket: str) -> None:
        raise NotImplementedError

    def _verify(self, item: Listed, handle: IO[bytes], uri: str) -> None:
        """Called on the flushed temporary file before its rename; checks the size (subclasses add more)."""
        written = os.fstat(handle.fileno()).st_size
        if written != item.size:
            raise ContentMismatch(f"{uri}: {item.key} is {item.size} bytes but {written} arrived")

    # -- the Remote protocol -------------------------------------------------------------------------------

    def list(self, uri: str) -> list[ObjectInfo]:
        """Every object below `uri` (or the single object `uri`), keys relative to it, sorted."""
        return [ObjectInfo(item.rel, item.size) for item in self._listing(self._parse(uri), uri)]

    def download(self, uri: str, dest: Path, *, progress: ProgressCallback | None = None) -> TransferReport:
        """Copy the prefix (or single object) `uri` into the folder `dest`, keeping the structure."""
        parsed = self._parse(uri)
        listing = self._listing(parsed, uri)
        if not listing:
            raise RemoteNotFoundError(f"{uri}: no object and no objects below it; nothing to download")
        folders, files = _plan(listing, dest, uri)
        with storage_errors("download", uri):
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
        tracker = Progress(progress)

        def fetch(job: tuple[Listed, Path]) -> int:
            item, target = job
            return call_with_retry(lambda: self._fetch_one(parsed, item, target, tracker, uri), attempts=self.attempts)

        moved = self._run_by_size(fetch, files, lambda job: job[0].size)
        return TransferReport(uri=uri, files=len(files), bytes=sum(moved), keys=tuple(i.rel for i, _ in files))

    def upload(
        self,
        src: Path,
        uri: str,
        *,
        create_bucket: bool = False,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        """Copy every file below the folder `src` to `uri`, keeping the structure."""
        parsed = self._parse(uri)
        if not src.is_dir():
            raise StorageError(f"cannot upload {src} to {uri}: {src} is not a folder")
        with storage_errors("upload to", uri):
            if not self._bucket_exists(parsed.bucket):
                if not create_bucket:
                    raise RemoteNotFoundError(
                        f"{uri}: the bucket {parsed.bucket!r} does not exist; create it, or allow creating "
                        "missing buckets (MLDOCK_CREATE_MISSING_BUCKETS=true)"
                    )
                self._create_bucket(parsed.bucket)
        files = sorted(_walk(src, uri))
        base = folder_prefix(parsed.prefix)
        tracker = Progress(progress)

        def send(job: tuple[str, Path, int]) -> int:
            rel, path, size = job
            with storage_errors("upload to", str(parsed.join(rel))):
                call_with_retry(
                    lambda: self._upload_file(path, parsed.bucket, base + rel, size, tracker), attempts=self.attempts
                )
            return size

        moved = self._run_by_size(send, files, lambda job: job[2])
        return TransferReport(uri=uri, files=len(files), bytes=sum(moved), keys=tuple(rel for rel, _, _ in files))

    # -- internals -----------------------------------------------------------------------------------------

    def _run_by_size(self, fn: Callable[[T], int], jobs: Sequence[T], size: Callable[[T], int]) -> builtins.list[int]:
        """Small files `max_concurrency` at a time; large ones `large_file_concurrency` at a time, since each
        of them already moves in parallel parts (more would only thrash a 2-core machine)."""
        small = [job for job in jobs if size(job) < LARGE_FILE]
        large = [job for job in jobs if size(job) >= LARGE_FILE]
        return run_parallel(fn, small, self.max_concurrency) + run_parallel(
            fn, large, min(self.max_concurrency, self.large_file_concurrency)
        )

    def _parse(self, uri: str) -> RemoteURI:
        parsed = parse_uri(uri)
        if parsed.scheme != self.scheme:
            raise StorageError(f"{uri}: {type(self).__name__} handles {self.scheme}:// URIs only")
        return parsed

    def _listing(self, parsed: RemoteURI, uri: str) -> builtins.list[Listed]:
        base = folder_prefix(parsed.prefix)
        try:
            with storage_errors("list", uri):
                listing = [
                    Listed(key, key[len(base) :], size, md5)
                    for key, size, md5 in self._iter_objects(parsed.bucket, base)
                    if key != base and key.startswith(base)
                ]
        except RemoteNotFoundError as exc:
            raise RemoteNotFoundError(
                f"{uri}: the bucket {parsed.bucket!r} does not exist (or these credentials cannot see it)"
            ) from exc
        with storage_errors("list", uri):
            if not listing and parsed.prefix and not parsed.prefix.endswith("/"):
                found = self._stat_object(parsed.bucket, parsed.prefix)
                if found is not None:
                    name = parsed.prefix.rsplit("/", 1)[-1]
                    listing = [Listed(parsed.prefix, name, found[0], found[1])]
        return sorted(listing, key=lambda item: item.rel)

    def _fetch_one(self, parsed: RemoteURI, item: Listed, target: Path, progress: Progress, uri: str) -> int:
        where = str(parsed.join(item.rel)) if item.key != parsed.prefix else uri
        with storage_errors("download", where), atomic_write(target) as handle:
            self._download_object(parsed.bucket, item, handle, progress)
            handle.flush()
            self._verify(item, handle, where)
        return item.size


def _plan(listing: Sequence[Listed], dest: Path, uri: str) -> tuple[list[Path], list[tuple[Listed, Path]]]:
    """Folders to make and (object, file) pairs; every key is validated before anything is written."""
    folders: list[Path] = []
    files: list[tuple[Listed, Path]] = []
    for item in listing:
        if item.rel.endswith("/"):
            folders.append(local_path_for_key(dest, item.rel.rstrip("/"), uri=uri))
        else:
            files.append((item, local_path_for_key(dest, item.rel, uri=uri)))
    file_paths = {path for _, path in files}
    for _, path in files:
        for parent in path.parents:
            if parent in file_paths:
                raise StorageError(f"{uri}: {parent.relative_to(dest)} is both an object and a folder prefix")
    for folder in folders:
        if folder in file_paths:
            raise StorageError(f"{uri}: {folder.relative_to(dest)} is both an object and a folder marker")
    return folders, files


def _walk(src: Path, uri: str) -> Iterator[tuple[str, Path, int]]:
    """(posix key relative to `src`, path, size) of every regular file below `src`; partial files skipped."""

    def fail(exc: OSError) -> None:
        raise StorageError(f"upload to {uri}: cannot list {exc.filename}: {exc.strerror}") from exc

    for folder, _dirs, names in os.walk(src, onerror=fail):
        for name in names:
            path = Path(folder, name)
            if name.endswith(PARTIAL_SUFFIX) or not path.is_file():
                continue
            yield path.relative_to(src).as_posix(), path, path.stat().st_size
