"""What the cloud remotes (s3, gs, az) share: listing below a prefix, planning, parallel transfers.

A cloud remote subclasses BlobRemote and supplies seven SDK primitives (`_iter_objects`, `_stat_object`,
`_download_object`, `_upload_file`, `_bucket_exists`, `_create_bucket`, `_delete_bucket`). This module does the
rest, the same way for every cloud:

- `uri` names a prefix: objects below `prefix/` are transferred keeping their structure; when there are none
  and an object called exactly `prefix` exists, that single object lands in `dest` under its own name.
  A prefix holding `*` is a pattern (mldock.storage.wildcard: `gs://b/data/train-*.csv`): only the
  matching objects are listed and downloaded, relative to the folder before the first wildcard; uploading to
  a pattern is refused.
- Every key is checked with `KeyPaths` (the rules of `local_path_for_key`) before anything is written; one bad
  key refuses the lot.
- Keys ending in `/` (folder markers) become folders, no file. Files are written with `atomic_write`
  and their size checked before the rename; the SDK's checksum is checked by the SDK (or by `_verify`).
  One request per object: an empty object is written from its listing, with no request.
- Files move on a thread pool (small ones 16 at a time, those of 8 MiB and more 4 at a time, since the SDK
  already splits each into parallel parts); each file is retried on transient errors; the first hard failure cancels
  what has not started and is raised as a StorageError naming the URI.
- A download of many small files adds worker processes while one process is the limit (mldock.storage.spread,
  MLDOCK_TRANSFER_PROCESSES); a remote given a ready-made SDK client (tests) stays in one process, since a worker
  can only make its remote from settings.
- Bucket administration (`bucket_exists`, `create_bucket`, `delete_bucket`) takes the URI of the bucket's root
  (`s3://bucket`); a URI with a prefix is refused rather than taken for its whole bucket.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, TypeVar

from mldock.errors import RemoteNotFoundError, StorageError
from mldock.storage.base import (
    PARTIAL_SUFFIX,
    ContentMismatch,
    KeyPaths,
    ObjectInfo,
    ProgressCallback,
    TransferReport,
    atomic_write,
    remove_partials,
)
from mldock.storage.errors_map import storage_errors
from mldock.storage.retry import DEFAULT_ATTEMPTS, Timeouts, call_with_retry, timeouts_from
from mldock.storage.spread import JobQueue, SpreadPlan, WorkerJobs, plan_from, run_pulling, spread
from mldock.storage.uri import RemoteURI
from mldock.storage.wildcard import Wildcard, split_wildcard

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
_HASH_CHUNK = 1024 * 1024

T = TypeVar("T")
R = TypeVar("R")


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
    """`[fn(i) for i in items]`, in that order, on `workers` threads (`run_pulling`); the first failure stops
    handing out the rest and is raised."""
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    done = run_pulling(lambda pair: (pair[0], fn(pair[1])), JobQueue(enumerate(items)), min(workers, len(items)))
    return [result for _, result in sorted(done, key=itemgetter(0))]


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
    """Base of the cloud remotes; `max_concurrency` files move at once, `attempts` tries per file; `environ`
    (os.environ when None) names the SDK's settings, MLDOCK_STORAGE_TIMEOUT and MLDOCK_TRANSFER_PROCESSES (read
    here: a bad value is a UserError when the remote is made, not a transfer failure). `from_settings` is False
    for a remote given a ready-made SDK client: its transfers stay in one process (`spread_plan`)."""

    scheme: str = ""

    large_file_concurrency: int = 4

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        attempts: int = DEFAULT_ATTEMPTS,
        from_settings: bool = True,
    ) -> None:
        self.environ = environ
        self.timeouts: Timeouts = timeouts_from(environ)
        self.spread_plan: SpreadPlan = plan_from(environ) if from_settings else SpreadPlan(processes=1)
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

    def _before_upload(self, bucket: str, objects: builtins.list[tuple[str, int]]) -> None:
        """Called with the (key, size) pairs an upload is about to write, before the first (S3 aborts the
        multipart uploads a killed upload of these keys left behind); nothing by default."""

    def _create_bucket(self, bucket: str) -> None:
        """Create `bucket`; an error when it exists (mapped to StorageError) is fine: callers check first."""
        raise NotImplementedError

    def _delete_bucket(self, bucket: str) -> None:
        """Delete every object in `bucket` (all pages), then `bucket`; nothing when it does not exist."""
        raise NotImplementedError

    def _list_buckets(self) -> Iterator[str]:
        """Every bucket name of the account (all pages)."""
        raise NotImplementedError

    def _endpoint(self) -> str:
        """The endpoint URL the SDK client talks to (makes the client)."""
        raise NotImplementedError

    def _transport_hint(self) -> str:
        """`endpoint URL, MLDOCK_STORAGE_TIMEOUT=N s` for error messages (never raises)."""
        try:
            endpoint = self._endpoint()
        except Exception:
            endpoint = ""
        limit = f"MLDOCK_STORAGE_TIMEOUT={self.timeouts.total:g} s"
        return f"{endpoint}, {limit}" if endpoint else limit

    def _verify(self, item: Listed, handle: IO[bytes], uri: str) -> None:
        """Called on the flushed temporary file before its rename; checks the size (subclasses add more)."""
        written = os.fstat(handle.fileno()).st_size
        if written != item.size:
            raise ContentMismatch(f"{uri}: {item.key} is {item.size} bytes but {written} arrived")

    # -- the Remote protocol -------------------------------------------------------------------------------

    def list(self, uri: RemoteURI) -> list[ObjectInfo]:
        """Every object below `uri` (or the single object `uri`), keys relative to it, sorted."""
        self._check(uri)
        return [ObjectInfo(item.rel, item.size) for item in self._listing(uri)]

    def download(self, uri: RemoteURI, dest: Path, *, progress: ProgressCallback | None = None) -> TransferReport:
        """Copy the prefix (or single object) `uri` into the folder `dest`, keeping the structure."""
        self._check(uri)
        listing = self._listing(uri)
        if not listing:
            if split_wildcard(uri.prefix) is not None:
                raise RemoteNotFoundError(f"{uri}: no object matches the pattern; nothing to download")
            raise RemoteNotFoundError(f"{uri}: no object and no objects below it; nothing to download")
        folders, files = _plan(listing, dest, str(uri))
        remove_partials(dest)  # left by a download into this folder that was killed
        with storage_errors("download", str(uri), self._transport_hint):
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
        tracker = Progress(progress)

        def fetch(job: tuple[Listed, Path]) -> int:
            return self.fetch_with_retry(uri, job[0], job[1], tracker)

        small, large = _by_size(files, lambda job: job[0].size)
        workers = WorkerJobs(self._worker_setup(uri), _encode_job, tracker)
        done = spread(
            fetch, small, threads=self.max_concurrency, plan=self.spread_plan, workers=workers, where=str(uri)
        )
        if done.redone:  # a worker died mid-file: its temporary files are the only trace, and go now
            remove_partials(dest)
        moved = done.moved + self._run_large(fetch, large)
        return TransferReport(
            uri=str(uri),
            files=len(files),
            bytes=sum(moved),
            keys=tuple(i.rel for i, _ in files),
            processes=done.processes,
        )

    def fetch_with_retry(self, uri: RemoteURI, item: Listed, target: Path, progress: Progress) -> int:
        """Download `item` (an object below `uri`) to the file `target`, retried on transient failures; its size."""
        return call_with_retry(
            lambda: self._fetch_one(uri, item, target, progress),
            attempts=self.attempts,
            retry_window=self.timeouts.total,
        )

    def _worker_setup(self, uri: RemoteURI) -> dict[str, Any]:
        """How a worker process makes this remote again (`environ` may hold credentials: it goes over a pipe)."""
        environ = None if self.environ is None else dict(self.environ)
        return {"uri": str(uri), "environ": environ, "threads": self.max_concurrency, "attempts": self.attempts}

    def upload(
        self,
        src: Path,
        uri: RemoteURI,
        *,
        create_bucket: bool = False,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        """Copy every file below the folder `src` to `uri`, keeping the structure."""
        self._check(uri)
        if split_wildcard(uri.prefix) is not None:
            raise StorageError(f"cannot upload {src} to {uri}: a prefix with a wildcard (*) can only be read")
        if not src.is_dir():
            raise StorageError(f"cannot upload {src} to {uri}: {src} is not a folder")
        with storage_errors("upload to", str(uri), self._transport_hint):
            if not self._bucket_exists(uri.bucket):
                if not create_bucket:
                    raise RemoteNotFoundError(
                        f"{uri}: the bucket {uri.bucket!r} does not exist; create it, or allow creating "
                        "missing buckets (MLDOCK_CREATE_MISSING_BUCKETS=true)"
                    )
                self._create_if_missing(uri.bucket)
        files = sorted(_walk(src, str(uri)))
        base = folder_prefix(uri.prefix)
        with storage_errors("upload to", str(uri), self._transport_hint):
            self._before_upload(uri.bucket, [(base + rel, size) for rel, _, size in files])
        tracker = Progress(progress)

        def send(job: tuple[str, Path, int]) -> int:
            rel, path, size = job
            with storage_errors("upload to", str(uri.join(rel)), self._transport_hint):
                call_with_retry(
                    lambda: self._upload_file(path, uri.bucket, base + rel, size, tracker),
                    attempts=self.attempts,
                    retry_window=self.timeouts.total,
                )
            return size

        small, large = _by_size(files, lambda job: job[2])
        moved = run_parallel(send, small, self.max_concurrency) + self._run_large(send, large)
        return TransferReport(uri=str(uri), files=len(files), bytes=sum(moved), keys=tuple(rel for rel, _, _ in files))

    def bucket_exists(self, bucket: RemoteURI) -> bool:
        """True when the bucket `bucket` (`scheme://name`) exists (or may not be inspected but exists)."""
        name = self._bucket_name(bucket)
        with storage_errors("look up", str(bucket), self._transport_hint):
            return self._bucket_exists(name)

    def create_bucket(self, bucket: RemoteURI) -> None:
        """Create the bucket `bucket` (`scheme://name`); no error when it exists already and is ours."""
        name = self._bucket_name(bucket)
        with storage_errors("create", str(bucket), self._transport_hint):
            self._create_if_missing(name)

    def delete_bucket(self, bucket: RemoteURI) -> None:
        """Delete every object in the bucket `bucket` (`scheme://name`), then the bucket; nothing if missing."""
        name = self._bucket_name(bucket)
        with storage_errors("delete", str(bucket), self._transport_hint):
            self._delete_bucket(name)

    def list_buckets(self) -> builtins.list[str]:
        """The names of the account's buckets (containers), sorted."""
        with storage_errors("list buckets of", f"{self.scheme}://", self._transport_hint):
            return sorted(self._list_buckets())

    # -- internals -----------------------------------------------------------------------------------------

    def _run_large(self, fn: Callable[[T], int], large: Sequence[T]) -> builtins.list[int]:
        """Large files `large_file_concurrency` at a time (small ones move `max_concurrency` at a time), since
        each of them already moves in parallel parts (more would only thrash a 2-core machine)."""
        return run_parallel(fn, large, min(self.max_concurrency, self.large_file_concurrency))

    def _check(self, uri: RemoteURI) -> None:
        if uri.scheme != self.scheme:
            raise StorageError(f"{uri}: {type(self).__name__} handles {self.scheme}:// URIs only")

    def _bucket_name(self, bucket: RemoteURI) -> str:
        self._check(bucket)
        if bucket.prefix.strip("/"):
            raise StorageError(
                f"{bucket}: names a prefix, not a bucket; bucket administration takes "
                f"{self.scheme}://{bucket.bucket} (refused, so that a prefix is never taken for its whole bucket)"
            )
        return bucket.bucket

    def _create_if_missing(self, bucket: str) -> None:
        """Create `bucket` unless it exists; a create that loses a race to another creator is not an error."""
        if self._bucket_exists(bucket):
            return
        try:
            self._create_bucket(bucket)
        except Exception:
            if not self._bucket_exists(bucket):
                raise

    def _listing(self, uri: RemoteURI) -> builtins.list[Listed]:
        wildcard = split_wildcard(uri.prefix)
        if wildcard is not None:
            return self._matching(uri, wildcard)
        base = folder_prefix(uri.prefix)
        try:
            with storage_errors("list", str(uri), self._transport_hint):
                listing = [
                    Listed(key, key[len(base) :], size, md5)
                    for key, size, md5 in self._iter_objects(uri.bucket, base)
                    if key != base and key.startswith(base)
                ]
        except RemoteNotFoundError as exc:
            raise RemoteNotFoundError(
                f"{uri}: the bucket {uri.bucket!r} does not exist (or these credentials cannot see it)"
            ) from exc
        with storage_errors("list", str(uri), self._transport_hint):
            if not listing and uri.prefix and not uri.prefix.endswith("/"):
                found = self._stat_object(uri.bucket, uri.prefix)
                if found is not None:
                    name = uri.prefix.rsplit("/", 1)[-1]
                    listing = [Listed(uri.prefix, name, found[0], found[1])]
        return sorted(listing, key=lambda item: item.rel)

    def _matching(self, uri: RemoteURI, wildcard: Wildcard) -> builtins.list[Listed]:
        """The objects matching `wildcard`, keys relative to its folder (folder markers left out)."""
        try:
            with storage_errors("list", str(uri), self._transport_hint):
                listing = [
                    Listed(key, key[len(wildcard.folder) :], size, md5)
                    for key, size, md5 in self._iter_objects(uri.bucket, wildcard.listed)
                    if key.startswith(wildcard.folder) and not key.endswith("/") and wildcard.matches(key)
                ]
        except RemoteNotFoundError as exc:
            raise RemoteNotFoundError(
                f"{uri}: the bucket {uri.bucket!r} does not exist (or these credentials cannot see it)"
            ) from exc
        return sorted(listing, key=lambda item: item.rel)

    def _fetch_one(self, uri: RemoteURI, item: Listed, target: Path, progress: Progress) -> int:
        where = str(RemoteURI(uri.scheme, uri.bucket, item.key))
        with storage_errors("download", where, self._transport_hint), atomic_write(target) as handle:
            if item.size:  # an empty object is all in its listing (Azure would need two GETs: 416, then whole)
                self._download_object(uri.bucket, item, handle, progress)
            handle.flush()
            self._verify(item, handle, where)
        return item.size


def _plan(listing: Sequence[Listed], dest: Path, uri: str) -> tuple[list[Path], list[tuple[Listed, Path]]]:
    """Folders to make and (object, file) pairs; every key is validated before anything is written."""
    folders: list[Path] = []
    files: list[tuple[Listed, Path]] = []
    paths = KeyPaths(dest, uri=uri)
    for item in listing:
        if item.rel.endswith("/"):
            folders.append(paths.path_for(item.rel.rstrip("/")))
        else:
            files.append((item, paths.path_for(item.rel)))
    file_paths = {path for _, path in files}
    for _, path in files:
        for parent in path.parents:
            if parent in file_paths:
                raise StorageError(f"{uri}: {parent.relative_to(dest)} is both an object and a folder prefix")
    for folder in folders:
        if folder in file_paths:
            raise StorageError(f"{uri}: {folder.relative_to(dest)} is both an object and a folder marker")
    return folders, files


def _by_size(jobs: Sequence[T], size: Callable[[T], int]) -> tuple[list[T], list[T]]:
    """(the jobs of files under LARGE_FILE, those of files of LARGE_FILE and more), each in its order."""
    return [job for job in jobs if size(job) < LARGE_FILE], [job for job in jobs if size(job) >= LARGE_FILE]


def _encode_job(job: tuple[Listed, Path]) -> list[Any]:
    """A download job (object, target file) as a worker reads it (mldock.storage.worker.decode_job)."""
    item, target = job
    return [item.key, item.rel, item.size, item.md5, str(target)]


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
