"""KeyPaths and atomic_write: keys map below their folder and never out of it, each folder resolved once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import UnsafeKeyError
from mldock.storage.base import PARTIAL_SUFFIX, KeyPaths, atomic_write, local_path_for_key


def test_keys_map_below_the_folder(tmp_path: Path) -> None:
    paths = KeyPaths(tmp_path, uri="s3://b/p")
    assert paths.path_for("a/b/c.bin") == tmp_path / "a" / "b" / "c.bin"
    assert paths.path_for("top.bin") == tmp_path / "top.bin"


def test_a_symlinked_folder_pointing_outside_refuses_every_key_below_it(tmp_path: Path) -> None:
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "a").symlink_to(elsewhere)
    paths = KeyPaths(dest, uri="s3://b/p")
    for key in ("a/one.bin", "a/two.bin", "a/deeper/three.bin"):
        with pytest.raises(UnsafeKeyError, match=r"refusing object key .*\(from s3://b/p\): it resolves outside"):
            paths.path_for(key)


def test_a_symlink_at_the_files_own_name_pointing_outside_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "a").mkdir(parents=True)
    (tmp_path / "secret").write_text("x")
    paths = KeyPaths(dest)
    assert paths.path_for("a/fine.bin") == dest / "a" / "fine.bin"  # the folder is resolved and remembered
    (dest / "a" / "link.bin").symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafeKeyError, match="resolves outside"):
        paths.path_for("a/link.bin")


def test_a_symlink_that_stays_inside_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert KeyPaths(tmp_path).path_for("alias/x.bin") == tmp_path / "alias" / "x.bin"


@given(st.text(alphabet=st.sampled_from("ab./\\\x00"), max_size=12))
def test_a_key_is_refused_exactly_when_a_segment_could_leave_the_folder(key: str) -> None:
    dest = Path("/nonexistent-mldock-dest/d")  # no symbolic links on the way: the spelling alone decides
    segments = key.split("/")
    unsafe = not key or "\\" in key or "\x00" in key or any(s in ("", ".", "..") for s in segments)
    if unsafe:
        with pytest.raises(UnsafeKeyError, match="it would be written outside"):
            KeyPaths(dest).path_for(key)
        return
    assert KeyPaths(dest).path_for(key) == dest.joinpath(*segments) == local_path_for_key(dest, key)


def test_atomic_write_makes_the_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "file.bin"
    with atomic_write(target) as handle:
        handle.write(b"data")
    assert target.read_bytes() == b"data"
    assert not list(target.parent.glob(f"*{PARTIAL_SUFFIX}"))


def test_atomic_write_leaves_nothing_when_the_body_fails(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"

    def write_half() -> None:
        with atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_half()
    assert list(tmp_path.iterdir()) == []
