"""The host wheelhouse's guards and keys (no pip run here: the integration tests build for real)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mldock.errors import BuildError
from mldock.image.base_image import LOCAL_BASE_IMAGE, LOCAL_BASE_PYTHON
from mldock.image.wheelhouse import (
    cache_dir,
    check_python_matches,
    image_python_version,
    mldock_source_hash,
    repo_root,
)


@pytest.mark.parametrize(
    ("image", "version"),
    [
        (LOCAL_BASE_IMAGE, LOCAL_BASE_PYTHON),
        ("docker.io/library/python:3.12-slim", (3, 12)),
        ("python:3.10", (3, 10)),
        ("registry.example/team/python3.11-cuda:1", (3, 11)),
        ("ubuntu:24.04", None),
    ],
    ids=["local", "docker-hub-slim", "short", "python-in-name", "unknown"],
)
def test_python_version_from_image_name(image: str, version: tuple[int, int] | None) -> None:
    assert image_python_version(image) == version


def test_a_base_image_with_another_python_is_refused() -> None:
    other = 12 if sys.version_info[1] != 12 else 13
    with pytest.raises(BuildError, match=rf"Python 3\.{other} but this host runs"):
        check_python_matches(f"python:3.{other}-slim")


def test_matching_or_unknown_python_is_accepted() -> None:
    check_python_matches(f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim")
    check_python_matches("ubuntu:24.04")


def test_source_hash_follows_the_sources(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    (tmp_path / "mldock").mkdir()
    (tmp_path / "mldock" / "a.py").write_text("A = 1\n")
    first = mldock_source_hash(tmp_path)
    (tmp_path / "mldock" / "__pycache__").mkdir()
    (tmp_path / "mldock" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    assert mldock_source_hash(tmp_path) == first
    (tmp_path / "mldock" / "a.py").write_text("A = 2\n")
    assert mldock_source_hash(tmp_path) != first


def test_repo_root_is_this_checkout() -> None:
    root = repo_root()
    assert root is not None
    assert (root / "mldock" / "image" / "wheelhouse.py").is_file()


def test_cache_dir_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLDOCK_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("MLDOCK_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "mldock"
