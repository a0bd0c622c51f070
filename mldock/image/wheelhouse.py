"""Wheels prepared on the host, so image builds install everything offline: the mldock runtime built from
the checkout under test, and the project's requirements (plus `waitress` for serving).

    runtime = mldock_wheel()                          # ~/.cache/mldock/wheelhouse/mldock-<src hash>/*.whl
    deps = requirements_wheelhouse("boto3==1.40\n")   # ~/.cache/mldock/wheelhouse/deps-<hash>/*.whl
    platform_requirements(("vertex",), "boto3\n")     # ("google-cloud-storage>=2.16",): Vertex AI's storage SDK

Both are cached by content and built only when missing. The host's Python must have the base image's
minor version, so that `pip wheel` picks wheels the image can install (cp311 manylinux for the local image).

The platforms a project lists in mldock.json (`platforms`, default all) add the cloud SDK each one needs to reach
its storage, unless the project's requirements already name it: Vertex AI gives every channel as a gs:// URI
(AIP_TRAINING_DATA_URI, AIP_MODEL_DIR, AIP_STORAGE_URI...), so `vertex` adds google-cloud-storage with the version
spec of mldock's `gcs` extra (pyproject.toml, read from mldock's installed metadata). SageMaker and Azure ML mount
the data and Kubernetes uses the stage's own URIs: they add nothing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import mldock
from mldock.contract import cache_dir as contract_cache_dir
from mldock.errors import BuildError
from mldock.image.base_image import LOCAL_BASE_IMAGE, LOCAL_BASE_PYTHON
from mldock.image.context import DigestCache, file_signature

__all__ = [
    "RUNTIME_REQUIREMENTS",
    "cache_dir",
    "check_python_matches",
    "image_python_version",
    "mldock_source_hash",
    "mldock_wheel",
    "platform_requirements",
    "repo_root",
    "requirements_wheelhouse",
]

RUNTIME_REQUIREMENTS: tuple[str, ...] = ("waitress>=3.0",)
"""What the runtime needs besides the project's requirements (the cloud SDKs come from requirements.txt and
the project's platforms: platform_requirements)."""

PLATFORM_EXTRAS: dict[str, str] = {"vertex": "gcs"}
"""The mldock extra whose packages each platform needs in the image to reach its storage."""

_PACKAGES = ("mldock", "emulators", "pytest_mldock")
_TOP_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "LICENSE", "MANIFEST.in")
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")

Progress = Callable[[str], None]


def cache_dir() -> Path:
    """`$MLDOCK_CACHE_DIR`, else `~/.cache/mldock` (read at call time)."""
    return contract_cache_dir(os.environ)


def repo_root() -> Path | None:
    """The source checkout mldock runs from (the folder above the `mldock` package holding pyproject.toml)."""

    root = Path(mldock.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def _source_files(root: Path) -> list[Path]:
    files = [root / name for name in _TOP_FILES if (root / name).is_file()]
    for package in _PACKAGES:
        for dirpath, dirnames, filenames in os.walk(root / package):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
            files.extend(Path(dirpath) / name for name in sorted(filenames) if not name.endswith((".pyc", ".pyo")))
    return files


def mldock_source_hash(root: Path | None = None) -> str:
    """sha256 (hex) over the sources that make the mldock wheel (packages + pyproject), path and bytes.

    Remembered in mldock's cache folder with the files' signatures (mldock.image.context.DigestCache): while no
    source file's size, times or inode changed, the sources are not read again.
    """
    root = root or _require_root()
    files = _source_files(root)
    stats = [file_signature(os.stat(path)) for path in files]
    listing = "\n".join(f"{path}\0{sig}" for path, (sig, _) in zip(map(str, files), stats, strict=True))
    signature = hashlib.sha256(listing.encode()).hexdigest()
    key = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    cache = DigestCache.load(cache_dir() / "digests" / f"mldock-source-{key}.json")
    known = cache.lookup("mldock-source", signature)
    if known is not None:
        return known
    digest = hashlib.sha256()
    for path in files:
        relative = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        digest.update(b"%d\0%s\0%d\0" % (len(relative), relative, len(data)))
        digest.update(data)
    cache.remember("mldock-source", signature, digest.hexdigest(), settled=all(settled for _, settled in stats))
    cache.save()
    return digest.hexdigest()


def mldock_wheel(*, progress: Progress | None = None, source_hash: str | None = None) -> Path:
    """The mldock wheel built from the checkout (cached by source hash); builds it in a copy of the sources,
    so the checkout gets no build/ or egg-info folders."""
    root = _require_root()
    source_hash = source_hash or mldock_source_hash(root)
    target = cache_dir() / "wheelhouse" / f"mldock-{source_hash[:16]}"
    wheels = sorted(target.glob("mldock-*.whl")) if target.is_dir() else []
    if wheels:
        return wheels[0]
    _say(progress, f"building the mldock wheel from {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mldock-src-", dir=target.parent) as tmp:
        src = Path(tmp) / "src"
        for path in _source_files(root):
            dest = src / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
        out = Path(tmp) / "out"
        _pip(["wheel", "--no-deps", *_build_isolation(), "-w", str(out), str(src)], progress, what="mldock wheel")
        _publish(out, target)
    wheels = sorted(target.glob("mldock-*.whl"))
    if not wheels:
        raise BuildError(f"pip wheel produced no mldock wheel in {target}")
    return wheels[0]


def requirements_wheelhouse(requirements: str, *, cwd: Path | None = None, progress: Progress | None = None) -> Path:
    """A folder with wheels for `requirements` (text of a requirements file) plus RUNTIME_REQUIREMENTS,
    cached by content and Python version; `requirements.txt` is written into it for `pip install -r`."""
    key = hashlib.sha256(
        "\0".join([requirements, *RUNTIME_REQUIREMENTS, f"py{sys.version_info[0]}{sys.version_info[1]}"]).encode()
    ).hexdigest()[:16]
    target = cache_dir() / "wheelhouse" / f"deps-{key}"
    if (target / "requirements.txt").is_file():
        return target
    _say(progress, "preparing the wheelhouse for the project's requirements")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mldock-deps-", dir=target.parent) as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        req_file = out / "requirements.txt"
        req_file.write_text(requirements, encoding="utf-8")
        args = ["wheel", "-w", str(out), *RUNTIME_REQUIREMENTS]
        if requirements.strip():
            args += ["-r", str(req_file)]
        _pip(args, progress, what="wheelhouse for the requirements", cwd=cwd)
        _publish(out, target)
    return target


def platform_requirements(platforms: Iterable[str], requirements: str) -> tuple[str, ...]:
    """The requirement lines the image needs for `platforms` besides `requirements` (a requirements file's text):
    each listed platform's extra (PLATFORM_EXTRAS), less the packages `requirements` already names."""
    named = {_normalize(name) for name in _requirement_names(requirements)}
    wanted: list[str] = []
    for platform in platforms:
        extra = PLATFORM_EXTRAS.get(platform)
        for spec in _extra_requirements(extra) if extra else ():
            name = _normalize(_requirement_names(spec)[0])
            if name not in named:
                named.add(name)
                wanted.append(spec)
    return tuple(wanted)


def _extra_requirements(extra: str) -> list[str]:
    """The requirements of mldock's `extra` (`google-cloud-storage>=2.16` for gcs), from its installed metadata."""
    found = []
    for line in importlib.metadata.requires("mldock") or []:
        spec, _, marker = line.partition(";")
        if re.search(rf"""extra\s*==\s*["']{re.escape(extra)}["']""", marker):
            found.append(spec.strip())
    if not found:
        raise BuildError(f"mldock's metadata has no {extra!r} extra: reinstall mldock (pip install -e <checkout>)")
    return found


def _requirement_names(text: str) -> list[str]:
    """The project names a requirements text names (options such as -r, -e, --index-url and comments skipped)."""
    names = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        match = _NAME.match(line)
        if match and not line.startswith(("-", "#")):
            names.append(match.group(0))
    return names


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_python_version(base_image: str) -> tuple[int, int] | None:
    """The Python minor version a base image is known to carry, from its name (None when it cannot be told)."""

    if base_image == LOCAL_BASE_IMAGE:
        return LOCAL_BASE_PYTHON
    match = re.search(r"python[^:/]*:(\d+)\.(\d+)", base_image) or re.search(r"python(\d)\.?(\d+)", base_image)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_python_matches(base_image: str) -> None:
    """Refuse a build whose host-prepared wheels would not fit the image's Python."""
    wanted = image_python_version(base_image)
    here = sys.version_info[:2]
    if wanted is not None and wanted != here:
        raise BuildError(
            f"the base image {base_image} has Python {wanted[0]}.{wanted[1]} but this host runs "
            f"{here[0]}.{here[1]}: the wheelhouse is prepared on the host, so run mldock with Python "
            f"{wanted[0]}.{wanted[1]} (e.g. a venv made with python{wanted[0]}.{wanted[1]}), or pick a base image "
            f"with Python {here[0]}.{here[1]}"
        )


def _require_root() -> Path:
    root = repo_root()
    if root is None:
        raise BuildError(
            "mldock is not installed from a source checkout (no pyproject.toml next to the mldock package), "
            "so its runtime wheel cannot be built for the image: install mldock with `pip install -e <checkout>`"
        )
    return root


def _build_isolation() -> list[str]:
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
    except ImportError:
        return []
    return ["--no-build-isolation"]


def _pip(args: list[str], progress: Progress | None, *, what: str, cwd: Path | None = None) -> None:
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    tail: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", cwd=cwd
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-59:], line]
            _say(progress, line)
        code = proc.wait()
    if code != 0:
        raise BuildError(f"preparing the {what} failed (pip exit code {code})", log_tail="\n".join(tail))


def _publish(built: Path, target: Path) -> None:
    """Move a finished folder into place atomically; another process that won the race keeps its copy."""
    try:
        os.rename(built, target)
    except OSError:
        if not target.is_dir():
            raise


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
