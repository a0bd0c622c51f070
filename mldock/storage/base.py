"""The storage interface every remote implements, and the rules all of them share.

A remote moves whole channel folders between a local directory and a URI prefix:

    remote = remote_for("s3://bucket/prefix")         # see mldock.storage.registry
    remote.download("s3://bucket/prefix", Path("/opt/ml/input/data/train"))
    remote.upload(Path("/opt/ml/output/metrics"), "s3://bucket/run-1/metrics")

Rules (the container contract): folder structure kept; keys that would land outside the destination folder
are refused before anything is written; files are written through a temporary name and renamed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol
from urllib.parse import unquote, urlsplit

from mldock.errors import ChannelError, UnsafeKeyError

__all__ = [
    "SUPPORTED_SCHEMES",
    "ObjectInfo",
    "ProgressCallback",
    "Remote",
    "RemoteURI",
    "TransferReport",
    "atomic_write",
    "local_path_for_key",
    "parse_uri",
]

SUPPORTED_SCHEMES = ("s3", "gs", "az", "file")


ProgressCallback = Callable[[int], None]
"""Called with the number of bytes moved since the last call (thread-safe use is the remote's job)."""


@dataclass(frozen=True)
class RemoteURI:
    """A parsed storage URI: `scheme://bucket/prefix` (`file:///abs/path` has bucket "" and prefix the path)."""

    scheme: str
    bucket: str
    prefix: str

    def __str__(self) -> str:
        if self.scheme == "file":
            return f"file://{self.prefix}"
        return f"{self.scheme}://{self.bucket}/{self.prefix}" if self.prefix else f"{self.scheme}://{self.bucket}"

    def join(self, key: str) -> RemoteURI:
        """The URI of `key` below this prefix."""
        base = self.prefix.rstrip("/")
        return RemoteURI(self.scheme, self.bucket, f"{base}/{key}" if base else key)


@dataclass(frozen=True)
class ObjectInfo:
    """One object under a prefix: its key relative to the prefix, and its size in bytes."""

    key: str
    size: int


@dataclass(frozen=True)
class TransferReport:
    """What a download or upload moved."""

    uri: str
    files: int
    bytes: int
    keys: tuple[str, ...] = ()


class Remote(Protocol):
    """One storage backend (one URI scheme)."""

    scheme: str

    def list(self, uri: str) -> list[ObjectInfo]:
        """Every object below `uri`, keys relative to it, sorted."""
        ...

    def download(self, uri: str, dest: Path, *, progress: ProgressCallback | None = None) -> TransferReport:
        """Copy the object or prefix `uri` into the folder `dest`, keeping the structure below the prefix.

        A missing bucket or an empty prefix raises RemoteNotFoundError naming `uri`.
        """
        ...

    def upload(
        self,
        src: Path,
        uri: str,
        *,
        create_bucket: bool = False,
        progress: ProgressCallback | None = None,
    ) -> TransferReport:
        """Copy every file below the folder `src` to `uri`, keeping the structure.

        A missing bucket raises RemoteNotFoundError unless `create_bucket` is true.
        """
        ...


def parse_uri(value: str, *, variable: str = "URI") -> RemoteURI:
    """Parse `value` as a storage URI; `variable` names the culprit in errors.

    Raises ChannelError for an unsupported scheme, a missing bucket, or a `file:` URI that is not absolute.
    """
    if not value or value != value.strip():
        raise ChannelError(f"{variable}: the URI {value!r} is empty or has surrounding whitespace")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ChannelError(f"{variable}: {value!r} is not a valid URI ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ChannelError(
            f"{variable}: unsupported URI scheme ({shown}) in {value!r}; use one of "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        )
    if parts.query or parts.fragment:
        raise ChannelError(f"{variable}: {value!r} must not carry a query or fragment")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ChannelError(f"{variable}: {value!r} must be file:///absolute/path (no host)")
        path = unquote(parts.path)
        if not path.startswith("/") or path == "/":
            raise ChannelError(f"{variable}: {value!r} must name an absolute folder, like file:///data/train")
        return RemoteURI("file", "", path.rstrip("/") or "/")
    bucket = parts.netloc
    if not bucket:
        raise ChannelError(f"{variable}: {value!r} has no bucket; write {scheme}://BUCKET/optional/prefix")
    prefix = parts.path.lstrip("/")
    return RemoteURI(scheme, bucket, prefix)


def local_path_for_key(dest: Path, key: str, *, uri: str = "") -> Path:
    """The file below `dest` that object `key` maps to; refuses keys that would escape `dest`.

    Refused: absolute keys, `..` segments, backslashes, NUL, and empty segments (`a//b`).
    """
    where = f" (from {uri})" if uri else ""
    if not key or "\\" in key or "\x00" in key or key.startswith("/"):
        raise UnsafeKeyError(f"refusing object key {key!r}{where}: it would be written outside {dest}")
    parts = PurePosixPath(key).parts
    if any(p in ("..", ".") for p in key.split("/")) or "" in key.split("/"):
        raise UnsafeKeyError(f"refusing object key {key!r}{where}: it would be written outside {dest}")
    target = dest.joinpath(*parts)
    root = os.path.realpath(dest)
    if os.path.commonpath([root, os.path.realpath(target)]) != root:
        raise UnsafeKeyError(f"refusing object key {key!r}{where}: it resolves outside {dest}")
    return target


@contextmanager
def atomic_write(target: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file beside `target`; on success rename it to `target`, on failure remove it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:64]}.", suffix=".mldock-partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise

