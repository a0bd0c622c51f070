"""A Python base image made on this machine, without any registry: debootstrap a minimal Debian, trim it,
import it through the Engine API.

    ensure_base_image()                         # present: returns at once; else builds (~1-2 min, root)
    python -m mldock.image.base_image [--tag T] [--force]

The image is cached by the engine and reused while present; `--force` rebuilds it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mldock.engine import connect, engine_errors
from mldock.errors import BuildError, MldockError

if TYPE_CHECKING:
    import docker

__all__ = [
    "DEBIAN_MIRROR",
    "DEBIAN_SUITE",
    "LOCAL_BASE_IMAGE",
    "LOCAL_BASE_PYTHON",
    "BaseImage",
    "ensure_base_image",
    "main",
]

LOCAL_BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"
LOCAL_BASE_PYTHON = (3, 11)
"""The Python minor version inside LOCAL_BASE_IMAGE (Debian bookworm's python3)."""
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")

# removed from the root file system before import: nothing a Python program needs at run time
_TRIM = (
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf/templates.dat-old",
    "var/log",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/common-licenses",
)
_CHANGES = (
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["python3"]',
)

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseImage:
    """The outcome of `ensure_base_image`: the tag, whether it was made now, and how long that took (s)."""

    tag: str
    created: bool
    duration: float


def ensure_base_image(
    tag: str = LOCAL_BASE_IMAGE,
    *,
    client: docker.DockerClient | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> BaseImage:
    """Make the local Python base image `tag` unless the engine already has it (or `force`)."""
    import docker.errors as de

    started = time.monotonic()
    say = _reporter(progress)
    client = client or connect()
    if not force:
        try:
            with engine_errors(f"looking up {tag}"):
                client.images.get(tag)
            say(f"{tag} is present; nothing to do")
            return BaseImage(tag, created=False, duration=time.monotonic() - started)
        except MldockError as exc:
            if not isinstance(exc.__cause__, de.ImageNotFound):
                raise
    _check_can_build()
    with tempfile.TemporaryDirectory(prefix="mldock-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"debootstrap {DEBIAN_SUITE} (minbase + {', '.join(PACKAGES)}) into {rootfs}")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            say,
            what="debootstrap",
        )
        freed = _trim(rootfs)
        say(f"trimmed {freed / 1e6:.0f} MB (apt lists, docs, man pages, locales, __pycache__)")
        _check_python(rootfs)
        say(f"importing the root file system as {tag}")
        _import(client, rootfs, tag, say)
    duration = time.monotonic() - started
    say(f"made {tag} in {duration:.0f} s")
    return BaseImage(tag, created=True, duration=duration)


def _reporter(progress: Progress | None) -> Progress:
    def say(line: str) -> None:
        log.info("%s", line)
        if progress is not None:
            progress(line)

    return say


def _check_can_build() -> None:
    if sys.platform != "linux":
        raise BuildError("making the local base image needs Linux (debootstrap); use a registry image instead")
    if os.geteuid() != 0:
        raise BuildError(
            "making the local base image needs root (debootstrap creates device nodes and chowns files): "
            "run `sudo mldock base-image`, or name a registry image as base_image in mldock.json"
        )
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed: `apt-get install -y debootstrap`, then run this again")
    if shutil.which("tar") is None:
        raise BuildError("tar is not installed: `apt-get install -y tar`, then run this again")


def _run(argv: Sequence[str], say: Progress, *, what: str) -> None:
    tail: list[str] = []
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-39:], line]
            say(line)
        code = proc.wait()
    if code != 0:
        raise BuildError(f"{what} failed with exit code {code}", log_tail="\n".join(tail))


def _trim(rootfs: Path) -> int:
    freed = 0
    for relative in _TRIM:
        target = rootfs / relative
        if not target.is_dir():
            continue
        for child in list(target.iterdir()):
            freed += _remove(child)
    for cache in list(rootfs.glob("usr/lib/python3*/**/__pycache__")):
        freed += _remove(cache)
    return freed


def _remove(path: Path) -> int:
    size = 0
    if path.is_dir() and not path.is_symlink():
        for sub in path.rglob("*"):
            if sub.is_file() and not sub.is_symlink():
                size += sub.stat().st_size
        shutil.rmtree(path, ignore_errors=True)
    else:
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
        path.unlink(missing_ok=True)
    return size


def _check_python(rootfs: Path) -> None:
    wanted = f"python{LOCAL_BASE_PYTHON[0]}.{LOCAL_BASE_PYTHON[1]}"
    if not (rootfs / "usr" / "bin" / wanted).exists():
        found = sorted(p.name for p in (rootfs / "usr" / "bin").glob("python3.*"))
        raise BuildError(f"the debootstrapped system has {found or 'no python3'}, not {wanted}")


def _import(client: docker.DockerClient, rootfs: Path, tag: str, say: Progress) -> None:
    repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    with subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as tar:
        assert tar.stdout is not None
        try:
            with engine_errors(f"importing {rootfs} as {tag}"):
                response = client.api.import_image_from_stream(
                    tar.stdout, repository=repository, tag=version, changes=list(_CHANGES)
                )
                image_id = ""
                for line in _status_lines(response):
                    say(line)
                    if line.startswith("sha256:"):
                        image_id = line
        finally:
            tar.stdout.close()
            stderr = tar.stderr.read().decode("utf-8", "replace") if tar.stderr else ""
            code = tar.wait()
    if code != 0:
        raise BuildError(f"tar of {rootfs} failed with exit code {code}", log_tail=stderr[-4000:])
    with engine_errors(f"tagging the imported image as {tag}"):
        # Podman's compatible import ignores the tag parameter (it tags `:latest`): tag explicitly
        image = client.images.get(image_id or f"{repository}:latest")
        if tag not in image.tags:
            image.tag(repository, version)
        if f"{repository}:latest" in image.tags and version != "latest":
            client.images.remove(f"{repository}:latest")
        client.images.get(tag)


def _status_lines(response: Any) -> Iterator[str]:
    """Readable lines from an import response (a JSON string, or a stream of JSON chunks)."""
    import json

    chunks = response if not isinstance(response, (str, bytes)) else [response]
    for chunk in chunks:
        text = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else str(chunk)
        for raw in text.splitlines():
            raw = raw.strip()
            if not raw:
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                yield raw
                continue
            if isinstance(data, dict):
                if data.get("error"):
                    raise BuildError(f"the engine refused the import: {data['error']}")
                yield str(data.get("status") or data.get("stream") or data.get("id") or raw).strip()
            else:
                yield raw


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mldock.image.base_image [--tag T] [--force]`; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m mldock.image.base_image", description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=LOCAL_BASE_IMAGE, help=f"image tag (default {LOCAL_BASE_IMAGE})")
    parser.add_argument("--force", action="store_true", help="rebuild even when the image is present")
    parser.add_argument("--quiet", action="store_true", help="print only the result")
    args = parser.parse_args(argv)
    try:
        result = ensure_base_image(args.tag, force=args.force, progress=None if args.quiet else print)
    except MldockError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, BuildError) and "needs root" in str(exc) else 1
    state = f"made in {result.duration:.0f} s" if result.created else "already present"
    print(f"{result.tag}: {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
