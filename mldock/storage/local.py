"""The `file://` remote: a folder on the local (or mounted) filesystem stands in for a bucket prefix.

    remote = LocalRemote()
    remote.download(parse_uri("file:///data/train"), Path("/opt/ml/input/data/train"))
    remote.upload(Path("/opt/ml/output/metrics"), parse_uri("file:///results/run-1/metrics"), create_bucket=True)

Semantics, mirroring the cloud remotes:
- `file:///a/b/prefix` names the folder `/a/b/prefix`; its parent `/a/b` plays the bucket. Upload creates the
  prefix folder as needed but the parent must exist unless `create_bucket=True` (RemoteNotFoundError otherwise).
- Download of a folder copies every regular file below it, keeping the structure; download of a single file
  copies it into `dest` under its own name. A missing path or an empty folder raises RemoteNotFoundError.
- Download of a folder onto itself (the source folder and `dest` are one folder once symbolic links are
  resolved, as with a platform's channel that is already local) copies nothing and reports the files it holds
  (`bytes` is their total size; progress is not called).
- Symbolic links to files are followed; linked folders are not descended into. Partial files written by an
  interrupted transfer (`*.mldock-partial`) are never listed, and a download removes those below `dest` first.
- Every file is written through `atomic_write` and its size checked against the source.
- Bucket administration takes the folder that is the bucket: `create_bucket(parse_uri("file:///srv/b"))` makes
  `/srv/b` (and its parents), `bucket_exists` is "is a folder", `delete_bucket` removes the folder and
  everything below it (nothing when it is missing).
"""

from __future__ import annotations

import builtins
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mldock.errors import RemoteNotFoundError, StorageError
from mldock.storage.base import (
    PARTIAL_SUFFIX,
    KeyPaths,
    ObjectInfo,
    ProgressCallback,
    TransferReport,
    atomic_write,
    remove_partials,
)
from mldock.storage.uri import RemoteURI

__all__ = ["LocalRemote"]

_CHUNK = 1024 * 1024


class LocalRemote:
    """Remote for `file:///abs/path` URIs, copying files in parallel with a small thread pool.

    LocalRemote(max_workers=4).list(parse_uri("file:///data/train"))   # [ObjectInfo(key="a.csv", size=12), ...]
    """

    scheme = "file"

    def __init__(self, *, max_workers: int = 8) -> None:
        self.max_workers = max(1, max_workers)

    def list(self, uri: RemoteURI) -> list[ObjectInfo]:
        """Every regular file below the folder `uri` (or the file `uri` itself), keys relative to it, sorted."""
        root = _path_of(uri)
        if root.is_file():
            return [ObjectInfo(root.name, _size(root, uri))]
        if not root.is_dir():
            raise RemoteNotFoundError(f"{uri}: no such file or folder ({root})")
        return [ObjectInfo(key, _size(root / key, uri)) for key in sorted(_walk(root, str(uri)))]

    def download(self, uri: RemoteURI, dest: Path, *, progress: ProgressCallback | None = None) -> TransferReport:
        """Copy the folder or file `uri` into the folder `dest`; RemoteNotFoundError when missing or empty."""
        root = _path_of(uri)
        objects = self.list(uri)
        if not objects:
            raise RemoteNotFoundError(f"{uri}: the folder is empty; nothing to download")
        source_root = root.parent if root.is_file() else root
        if os.path.realpath(source_root) == os.path.realpath(dest):
            return TransferReport(
                uri=str(uri), files=len(objects), bytes=sum(o.size for o in objects), keys=tuple(o.key for o in objects)
            )
        paths = KeyPaths(dest, uri=str(uri))
        plan = [(source_root / o.key, paths.path_for(o.key), o) for o in objects]
        remove_partials(dest)  # left by a download into this folder that was killed
        return self._copy_all(str(uri), plan, progress)

    def upload(
        self,
        src: Path,
        uri: RemoteURI,
        *,
        create_bucket: bool = False,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        """Copy every file below the folder `src` into the folder `uri`, keeping the structure."""
        target = _path_of(uri)
        if not src.is_dir():
            raise StorageError(f"cannot upload {src} to {uri}: {src} is not a folder")
        if not target.parent.is_dir():
            if not create_bucket:
                raise RemoteNotFoundError(
                    f"{uri}: the parent folder {target.parent} does not exist; create it, or allow creating "
                    "missing buckets (MLDOCK_CREATE_MISSING_BUCKETS=true)"
                )
            _mkdir(target.parent, uri)
        if target.exists() and not target.is_dir():
            raise StorageError(f"{uri}: {target} exists and is not a folder")
        keys = sorted(_walk(src, str(src)))
        paths = KeyPaths(target, uri=str(uri))
        plan = [(src / key, paths.path_for(key), ObjectInfo(key, _size(src / key, uri))) for key in keys]
        if not plan:
            _mkdir(target, uri)
        return self._copy_all(str(uri), plan, progress)

    def bucket_exists(self, bucket: RemoteURI) -> bool:
        """True when the folder `bucket` exists."""
        return _path_of(bucket).is_dir()

    def create_bucket(self, bucket: RemoteURI) -> None:
        """Make the folder `bucket` and its parents; no error when it exists."""
        _mkdir(_path_of(bucket), bucket)

    def list_buckets(self) -> builtins.list[str]:
        """None: a filesystem has no account whose buckets could be listed (a bucket is any folder)."""
        return []

    def delete_bucket(self, bucket: RemoteURI) -> None:
        """Remove the folder `bucket` and everything below it; nothing when it is missing."""
        path = _path_of(bucket)
        if not path.exists() and not path.is_symlink():
            return
        if path.is_symlink() or not path.is_dir() or path.parent == path:
            raise StorageError(f"{bucket}: {path} is not a folder below the root; refusing to delete it as a bucket")

        def fail(_function: object, name: str, info: tuple[type[BaseException], BaseException, object]) -> None:
            if not isinstance(info[1], FileNotFoundError):
                raise StorageError(f"{bucket}: cannot delete {name}: {info[1]}") from info[1]

        shutil.rmtree(path, onerror=fail)

    def _copy_all(
        self,
        uri: str,
        plan: Sequence[tuple[Path, Path, ObjectInfo]],
        progress: ProgressCallback | None,
    ) -> TransferReport:
        report = _locked(progress)
        if plan:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(plan))) as pool:
                copied = list(pool.map(lambda item: _copy(item[0], item[1], item[2], uri, report), plan))
        else:
            copied = []
        return TransferReport(uri=uri, files=len(plan), bytes=sum(copied), keys=tuple(o.key for _, _, o in plan))


def _path_of(uri: RemoteURI) -> Path:
    if uri.scheme != "file":
        raise StorageError(f"{uri}: LocalRemote handles file:// URIs only")
    return Path(uri.prefix)


def _walk(root: Path, where: str) -> Iterable[str]:
    """Keys (posix, relative to `root`) of the regular files below `root`, partial files skipped."""

    def fail(exc: OSError) -> None:
        raise StorageError(f"{where}: cannot list {exc.filename}: {exc.strerror}") from exc

    for folder, _dirs, files in os.walk(root, onerror=fail):
        for name in files:
            path = Path(folder, name)
            if name.endswith(PARTIAL_SUFFIX) or not path.is_file():
                continue
            yield path.relative_to(root).as_posix()


def _size(path: Path, uri: RemoteURI | str) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise StorageError(f"{uri}: cannot read {path}: {exc.strerror}") from exc


def _mkdir(path: Path, uri: RemoteURI) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"{uri}: cannot create {path}: {exc.strerror}") from exc


def _copy(source: Path, target: Path, info: ObjectInfo, uri: str, progress: ProgressCallback) -> int:
    """Copy one file through a temporary name; StorageError when it fails or its size is not the listed one."""
    copied = 0
    try:
        with source.open("rb") as reader, atomic_write(target) as writer:
            while chunk := reader.read(_CHUNK):
                writer.write(chunk)
                copied += len(chunk)
                progress(len(chunk))
            if copied != info.size:
                raise StorageError(
                    f"{uri}: {info.key} changed during the copy ({info.size} bytes listed, {copied} read)"
                )
        written = target.stat().st_size
    except OSError as exc:
        raise StorageError(f"{uri}: copying {source} to {target} failed: {exc.strerror or exc}") from exc
    if written != copied:
        raise StorageError(f"{uri}: {target} has {written} bytes after the copy, expected {copied}")
    return copied


def _locked(progress: ProgressCallback | None) -> Callable[[int], None]:
    if progress is None:
        return lambda _: None
    lock = threading.Lock()

    def report(count: int) -> None:
        with lock:
            progress(count)

    return report
