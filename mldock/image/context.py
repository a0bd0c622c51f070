"""The build context: the project folder's files after `.dockerignore`, packed into a reproducible tar,
and the content hash of everything that goes into the image.

    files = project_files(project.root)                   # honours .dockerignore (docker-py's own matcher)
    digest = content_hash(files, dockerfile=text, base_image=ref, requirements=req, mldock_source=src)
    cache = DigestCache.load(cache_file)                  # an unchanged file is not read again
    digest = content_hash(files, ..., digests=cache); cache.save()
    write_context_tar(out, files, extra={"Dockerfile": text.encode()}, trees={"wheels": wheel_dir})
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "DEFAULT_IGNORES",
    "SETTLE_SECONDS",
    "ContextFile",
    "DigestCache",
    "content_hash",
    "file_signature",
    "parse_dockerignore",
    "project_files",
    "read_dockerignore",
    "write_context_tar",
]

DEFAULT_IGNORES: tuple[str, ...] = (
    "**/__pycache__",
    "**/*.pyc",
    "**/*.pyo",
    ".git",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".venv",
)
"""Ignored before the project's own `.dockerignore` (which can re-include with `!pattern`): byte code and
tool caches change on every local run and would otherwise defeat the build cache."""


@dataclass(frozen=True)
class ContextFile:
    """One file of the context: its path relative to the project (POSIX form), absolute path and mode."""

    relative: str
    path: Path
    mode: int
    link_target: str | None = None
    """For a symbolic link: where it points (the link itself goes into the image, not its target)."""

    def digest_input(self) -> bytes:
        """What the content hash sees of this file: path, kind and permission bits, and its bytes."""
        kind = "l" if self.link_target is not None else "f"
        header = f"{self.relative}\0{kind}{stat.S_IMODE(self.mode):o}\0".encode()
        if self.link_target is not None:
            return header + self.link_target.encode("utf-8", "surrogateescape")
        return header


SETTLE_SECONDS = 2.0
"""A file changed (mtime or ctime) this recently when it was hashed is hashed again next time: a second change
within the file system's timestamp granularity could leave its size and times as they were."""


class DigestCache:
    """Digests remembered with the signature of what they were computed from (a file's size, times, inode), so
    an unchanged file is not read again. The digest stays the truth; a matching signature only says "these
    bytes were hashed already", and anything that does not match is hashed again.

        cache = DigestCache.load(cache_dir / "digests" / "project-1a2b.json")   # DigestCache() keeps it in memory
        cache.file_digest(path)        # sha256 of the file's bytes: read only when new, changed or recently changed
        cache.lookup("sources", signature) or cache.remember("sources", signature, compute(), settled=True)
        cache.save()                   # atomically, only when something changed; keeps only the entries used

    A cache file that cannot be read or written is no error: everything is hashed as without it.
    """

    def __init__(
        self,
        path: Path | None = None,
        entries: Mapping[str, tuple[str, str]] | None = None,
        *,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.path = path
        self.settle_seconds = settle_seconds
        self._known = dict(entries or {})
        self._used: dict[str, tuple[str, str]] = {}
        self._changed = False

    @classmethod
    def load(cls, path: Path, *, settle_seconds: float = SETTLE_SECONDS) -> DigestCache:
        """The cache kept in `path` (empty when the file is missing or unreadable)."""
        entries: dict[str, tuple[str, str]] = {}
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("entries"), dict):
                entries = {
                    key: (value[0], value[1])
                    for key, value in data["entries"].items()
                    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
                }
        return cls(path, entries, settle_seconds=settle_seconds)

    def lookup(self, key: str, signature: str) -> str | None:
        """The value remembered for `key` when it was computed from `signature`, else None."""
        entry = self._known.get(key)
        if entry is None or entry[0] != signature:
            return None
        self._used[key] = entry
        return entry[1]

    def remember(self, key: str, signature: str, value: str, *, settled: bool) -> str:
        """Keep `value` for `key` and `signature` (only when `settled`: see SETTLE_SECONDS); returns `value`."""
        if settled:
            self._known[key] = self._used[key] = (signature, value)
            self._changed = True
        return value

    def file_digest(self, path: Path) -> bytes:
        """sha256 of the bytes of `path`, read only when its signature (size, mtime, ctime, inode) is new."""
        key = str(path)
        signature, settled = file_signature(os.stat(path), settle_seconds=self.settle_seconds)
        known = self.lookup(key, signature)
        if known is not None:
            return bytes.fromhex(known)
        digest = _file_sha256(path)
        self.remember(key, signature, digest.hex(), settled=settled)
        return digest

    def save(self) -> None:
        """Write the entries used since loading to `path` (atomically), when any was added or changed."""
        if self.path is None or not (self._changed or set(self._used) != set(self._known)):
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".digests-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({"entries": {k: list(v) for k, v in sorted(self._used.items())}}, out)
                os.replace(temporary, self.path)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
        self._known, self._changed = dict(self._used), False


def file_signature(
    info: os.stat_result, *, now: float | None = None, settle_seconds: float = SETTLE_SECONDS
) -> tuple[str, bool]:
    """What identifies a file's bytes without reading them (size, mtime, ctime, inode, device), and whether it
    has settled (last changed more than `settle_seconds` before `now`, default: now)."""
    signature = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}:{info.st_dev}"
    changed = max(info.st_mtime_ns, info.st_ctime_ns) / 1e9
    return signature, (time.time() if now is None else now) - changed > settle_seconds


def _file_sha256(path: Path) -> bytes:
    file_digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            file_digest.update(block)
    return file_digest.digest()


def parse_dockerignore(text: str) -> list[str]:
    """The patterns of a `.dockerignore` text: comments and blank lines dropped, whitespace trimmed."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        patterns.append(line)
    return patterns


def read_dockerignore(root: Path) -> list[str]:
    """DEFAULT_IGNORES followed by the patterns of `root/.dockerignore` (if any)."""
    ignore = root / ".dockerignore"
    own = parse_dockerignore(ignore.read_text(encoding="utf-8")) if ignore.is_file() else []
    return [*DEFAULT_IGNORES, *own]


def project_files(root: Path, patterns: Sequence[str] | None = None) -> list[ContextFile]:
    """Every regular file and symlink under `root` not excluded by `patterns` (default: read_dockerignore)."""
    from docker.utils.build import exclude_paths  # deferred: tooling only

    root = Path(root).resolve()
    patterns = read_dockerignore(root) if patterns is None else list(patterns)
    files = []
    for relative in exclude_paths(str(root), patterns):
        path = root / relative
        info = path.lstat()
        rel = Path(relative).as_posix()
        if stat.S_ISLNK(info.st_mode):
            files.append(ContextFile(rel, path, info.st_mode, link_target=os.readlink(path)))
        elif stat.S_ISREG(info.st_mode):
            files.append(ContextFile(rel, path, info.st_mode))
    files.sort(key=lambda f: f.relative)
    return files


def content_hash(
    files: Iterable[ContextFile],
    *,
    dockerfile: str,
    base_image: str,
    requirements: str,
    mldock_source: str,
    digests: DigestCache | None = None,
) -> str:
    """sha256 (hex) over every input of the image: files (path, mode, bytes), Dockerfile, base image reference,
    requirements text and the hash of the mldock sources installed into it.

    With `digests`, a file whose signature is unchanged is not read again (the same hash, without the reading).
    """
    digest = hashlib.sha256()

    def field(name: str, value: bytes) -> None:
        digest.update(f"{name}\0{len(value)}\0".encode())
        digest.update(value)

    field("base_image", base_image.encode())
    field("dockerfile", dockerfile.encode())
    field("requirements", requirements.encode())
    field("mldock_source", mldock_source.encode())
    for item in sorted(files, key=lambda f: f.relative):
        field("file", item.digest_input())
        if item.link_target is None:
            field("bytes", _file_sha256(item.path) if digests is None else digests.file_digest(item.path))
    return digest.hexdigest()


def write_context_tar(
    out: IO[bytes],
    files: Iterable[ContextFile],
    *,
    prefix: str = "",
    extra: Mapping[str, bytes] | None = None,
    trees: Mapping[str, Path] | None = None,
) -> None:
    """Write a reproducible tar (fixed owner and mtime, sorted) of `files` under `prefix`, plus `extra` files
    (name -> bytes) and whole folders `trees` (name in the tar -> host folder)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted((extra or {}).items()):
            tar.addfile(_info(name, len(data), 0o644), io.BytesIO(data))
        for name, folder in sorted((trees or {}).items()):
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file() and not path.is_symlink():
                    arcname = f"{name}/{path.relative_to(folder).as_posix()}"
                    with open(path, "rb") as handle:
                        tar.addfile(_info(arcname, path.stat().st_size, 0o644), handle)
        base = f"{prefix.rstrip('/')}/" if prefix else ""
        for item in sorted(files, key=lambda f: f.relative):
            arcname = base + item.relative
            if item.link_target is not None:
                info = _info(arcname, 0, stat.S_IMODE(item.mode) or 0o777)
                info.type = tarfile.SYMTYPE
                info.linkname = item.link_target
                tar.addfile(info)
            else:
                with open(item.path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    tar.addfile(_info(arcname, size, stat.S_IMODE(item.mode)), handle)


def _info(name: str, size: int, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
