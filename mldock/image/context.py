"""The build context: the project folder's files after `.dockerignore`, packed into a reproducible tar,
and the content hash of everything that goes into the image.

    files = project_files(project.root)                   # honours .dockerignore (docker-py's own matcher)
    digest = content_hash(files, dockerfile=text, base_image=ref, requirements=req, mldock_source=src)
    write_context_tar(out, files, extra={"Dockerfile": text.encode()}, trees={"wheels": wheel_dir})
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "DEFAULT_IGNORES",
    "ContextFile",
    "content_hash",
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
) -> str:
    """sha256 (hex) over every input of the image: files (path, mode, bytes), Dockerfile, base image reference,
    requirements text and the hash of the mldock sources installed into it."""
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
            file_digest = hashlib.sha256()
            with open(item.path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    file_digest.update(block)
            field("bytes", file_digest.digest())
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
