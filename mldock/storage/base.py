"""The storage interface every remote implements, and the rules all of them share.

A remote moves whole channel folders between a local directory and a URI prefix:

    uri = parse_uri("s3://bucket/prefix")              # see mldock.storage.uri
    remote = remote_for(uri)                           # see mldock.storage.registry
    remote.download(uri, Path("/opt/ml/input/data/train"))
    remote.upload(Path("/opt/ml/output/metrics"), parse_uri("s3://bucket/run-1/metrics"))

Rules (the container contract): folder structure kept; keys that would land outside the destination folder
are refused before anything is written; files are written through a temporary name and renamed. A process
killed mid-transfer leaves its temporary files (`.NAME.XXXX.mldock-partial`) behind: the next download into
that folder removes them first (`remove_partials`), so one download into a folder at a time is the rule.

Buckets are named by the RemoteURI of their root: `s3://bucket`, `gs://bucket`, `az://container` (a cloud
bucket URI with a prefix is refused, so no prefix is ever mistaken for a whole bucket), and for `file://` the
folder itself (`file:///srv/buckets/data`: the folder is the bucket).
"""

from __future__ import annotations

import builtins
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from mldock.errors import StorageError, UnsafeKeyError
from mldock.storage.uri import RemoteURI

__all__ = [
    "PARTIAL_SUFFIX",
    "ContentMismatch",
    "KeyPaths",
    "ObjectInfo",
    "ProgressCallback",
    "Remote",
    "TransferReport",
    "atomic_write",
    "local_path_for_key",
    "remove_partials",
]

PARTIAL_SUFFIX = ".mldock-partial"
"""The suffix of the temporary files `atomic_write` writes; a file with it is never complete."""


ProgressCallback = Callable[[int], None]
"""Called with the number of bytes moved since the last call (thread-safe use is the remote's job)."""


class ContentMismatch(StorageError):
    """A transferred file's size or checksum differs from the object's (retried, then raised)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One object under a prefix: its key relative to the prefix, and its size in bytes."""

    key: str
    size: int


@dataclass(frozen=True)
class TransferReport:
    """What a download or upload moved."""

    uri: str  # str(RemoteURI)
    files: int
    bytes: int
    keys: tuple[str, ...] = ()
    processes: int = 1  # the caller's process and the worker processes that joined (mldock.storage.spread)


class Remote(Protocol):
    """One storage backend (one URI scheme); every URI given to it has that scheme."""

    scheme: str

    def list(self, uri: RemoteURI) -> list[ObjectInfo]:
        """Every object below `uri`, keys relative to it, sorted."""
        ...

    def download(self, uri: RemoteURI, dest: Path, *, progress: ProgressCallback | None = None) -> TransferReport:
        """Copy the object or prefix `uri` into the folder `dest`, keeping the structure below the prefix.

        A missing bucket or an empty prefix raises RemoteNotFoundError naming `uri`.
        """
        ...

    def upload(
        self,
        src: Path,
        uri: RemoteURI,
        *,
        create_bucket: bool = False,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        """Copy every file below the folder `src` to `uri`, keeping the structure.

        A missing bucket raises RemoteNotFoundError unless `create_bucket` is true.
        """
        ...

    def bucket_exists(self, bucket: RemoteURI) -> bool:
        """True when the bucket `bucket` (the URI of its root) exists."""
        ...

    def create_bucket(self, bucket: RemoteURI) -> None:
        """Create the bucket `bucket`; no error when it exists already and is ours."""
        ...

    def delete_bucket(self, bucket: RemoteURI) -> None:
        """Delete every object in the bucket `bucket`, then the bucket; no error when it does not exist."""
        ...

    def list_buckets(self) -> builtins.list[str]:
        """The names of the buckets (containers) the account holds, sorted (for `file:`, none: folders are not
        enumerated)."""
        ...


def local_path_for_key(dest: Path, key: str, *, uri: str = "") -> Path:
    """The file below `dest` that object `key` maps to; refuses keys that would escape `dest`.

    Refused: absolute keys, `..` segments, backslashes, NUL, and empty segments (`a//b`). For many keys into one
    folder, `KeyPaths` does the same with each folder on the way resolved once.
    """
    return KeyPaths(dest, uri=uri).path_for(key)


class KeyPaths:
    """Maps object keys to files below the folder `dest`, refusing keys that would escape it (the rules of
    `local_path_for_key`). Each parent folder is resolved once, so 10,000 keys in 3 folders cost 3 walks of
    the folder chain and one `lstat` per key (for a symbolic link at the file's own name), not 10,000 walks."""

    def __init__(self, dest: Path, *, uri: str = "") -> None:
        self.dest = dest
        self._where = f" (from {uri})" if uri else ""
        self._root = os.path.realpath(dest)
        self._folder_inside: dict[str, bool] = {}

    def path_for(self, key: str) -> Path:
        segments = key.split("/")  # an absolute key starts with an empty segment
        if "\\" in key or "\x00" in key or "" in segments or "." in segments or ".." in segments:
            raise self._refused(key, "it would be written outside")
        target = self.dest.joinpath(*segments)
        folder = str(target.parent)
        inside = self._folder_inside.get(folder)
        if inside is None:
            inside = self._folder_inside[folder] = self._within(os.path.realpath(folder))
        if not inside or (os.path.islink(target) and not self._within(os.path.realpath(target))):
            raise self._refused(key, "it resolves outside")
        return target

    def _within(self, resolved: str) -> bool:
        return os.path.commonpath([self._root, resolved]) == self._root

    def _refused(self, key: str, why: str) -> UnsafeKeyError:
        return UnsafeKeyError(f"refusing object key {key!r}{self._where}: {why} {self.dest}")


_WRITE_BUFFER = 64 * 1024  # a stated size: the default asks the kernel whether the file is a terminal, per file


@contextmanager
def atomic_write(target: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file beside `target`; on success rename it to `target`, on failure remove it. The folder
    is made when missing (looked for only then: one system call fewer per file of a large download)."""
    prefix = f".{target.name[:64]}."
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=PARTIAL_SUFFIX, dir=target.parent)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=PARTIAL_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb", buffering=_WRITE_BUFFER) as handle:
            yield handle
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def remove_partials(dest: Path) -> int:
    """Remove the temporary files an interrupted transfer left below the folder `dest` (`.*.mldock-partial`,
    symbolic links not followed); the number removed. StorageError when one cannot be removed."""
    removed = 0
    if not dest.is_dir():
        return 0
    for folder, _dirs, names in os.walk(dest):
        for name in names:
            if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
                path = Path(folder, name)
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise StorageError(
                        f"cannot remove the partial file {path} left by an earlier transfer: {exc}"
                    ) from exc
                removed += 1
    return removed
