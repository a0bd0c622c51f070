"""LocalRemote (file://): listing, folder and single-file downloads, uploads, safety and errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mldock.errors import RemoteNotFoundError, StorageError, UnsafeKeyError
from mldock.storage import parse_uri
from mldock.storage.base import ObjectInfo
from mldock.storage.local import LocalRemote
from mldock.storage.registry import remote_for


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "bucket" / "prefix"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (root / "top.txt").write_text("top")
    (root / ".x.mldock-partial").write_text("half-written")
    return root


def test_registry_chooses_local_remote_for_file_uris() -> None:
    assert isinstance(remote_for("file:///tmp/x"), LocalRemote)


def test_list_is_sorted_relative_and_skips_partial_files(source: Path) -> None:
    assert LocalRemote().list(parse_uri(f"file://{source}")) == [
        ObjectInfo("a/b/deep.bin", 3 * 1024 * 1024 + 7),
        ObjectInfo("top.txt", 3),
    ]


def test_download_folder_keeps_structure_bytes_and_reports_progress(source: Path, tmp_path: Path) -> None:
    moved: list[int] = []
    report = LocalRemote(max_workers=2).download(
        parse_uri(f"file://{source}"), tmp_path / "dest", progress=moved.append
    )
    assert (report.files, report.bytes, report.keys) == (2, 3 * 1024 * 1024 + 10, ("a/b/deep.bin", "top.txt"))
    assert (tmp_path / "dest" / "a" / "b" / "deep.bin").read_bytes() == (source / "a" / "b" / "deep.bin").read_bytes()
    assert sum(moved) == report.bytes
    assert sorted(p.name for p in (tmp_path / "dest").rglob("*")) == ["a", "b", "deep.bin", "top.txt"]


def test_download_single_file(source: Path, tmp_path: Path) -> None:
    report = LocalRemote().download(parse_uri(f"file://{source}/top.txt"), tmp_path / "dest")
    assert report.files == 1
    assert (tmp_path / "dest" / "top.txt").read_text() == "top"


@pytest.mark.parametrize("suffix", [pytest.param("missing", id="missing"), pytest.param("empty", id="empty")])
def test_download_of_missing_or_empty_source_is_not_found(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RemoteNotFoundError, match=suffix):
        LocalRemote().download(parse_uri(f"file://{tmp_path}/{suffix}"), tmp_path / "dest")


def test_upload_keeps_structure_and_overwrites(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "bucket" / "out"
    (target).mkdir()
    (target / "top.txt").write_text("old")
    report = LocalRemote().upload(source, parse_uri(f"file://{target}"))
    assert report.files == 2
    assert (target / "top.txt").read_text() == "top"
    assert (target / "a" / "b" / "deep.bin").stat().st_size == 3 * 1024 * 1024 + 7
    assert not list(target.rglob("*.mldock-partial"))


def test_upload_needs_the_parent_folder_unless_create_bucket(source: Path, tmp_path: Path) -> None:
    uri = parse_uri(f"file://{tmp_path}/new-bucket/run")
    with pytest.raises(RemoteNotFoundError, match="MLDOCK_CREATE_MISSING_BUCKETS"):
        LocalRemote().upload(source, uri)
    LocalRemote().upload(source, uri, create_bucket=True)
    assert (tmp_path / "new-bucket" / "run" / "top.txt").exists()


def test_upload_of_an_empty_folder_creates_the_prefix(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    report = LocalRemote().upload(tmp_path / "src", parse_uri(f"file://{tmp_path}/out"))
    assert (report.files, (tmp_path / "out").is_dir()) == (0, True)


@pytest.mark.parametrize(
    "problem", [pytest.param("src-missing", id="src-missing"), pytest.param("target-is-file", id="target-file")]
)
def test_upload_errors(tmp_path: Path, source: Path, problem: str) -> None:
    (tmp_path / "file").write_text("x")
    src = tmp_path / "nope" if problem == "src-missing" else source
    uri = parse_uri(f"file://{tmp_path}/file" if problem == "target-is-file" else f"file://{tmp_path}/out")
    with pytest.raises(StorageError):
        LocalRemote().upload(src, uri)


def test_keys_escaping_through_a_symlinked_destination_are_refused(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (dest / "a").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeKeyError):
        LocalRemote().download(parse_uri(f"file://{source}"), dest)
    assert not list((tmp_path / "elsewhere").iterdir())


def test_unreadable_source_is_a_storage_error(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "top.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(StorageError, match=r"top\.txt.*Permission denied"):
        LocalRemote().download(parse_uri(f"file://{source}"), tmp_path / "dest")


def test_other_schemes_are_refused() -> None:
    with pytest.raises(StorageError, match="file:// URIs only"):
        LocalRemote().list(parse_uri("s3://bucket/x"))


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda root: root, id="same-path"),
        pytest.param(lambda root: root.parent / "." / root.name, id="dot-segment"),
        pytest.param(lambda root: root.parent.parent / "link", id="through-symlink"),
    ],
)
def test_download_of_a_folder_onto_itself_copies_nothing_and_reports_its_files(
    source: Path, spelling: Callable[[Path], Path]
) -> None:
    (source.parent.parent / "link").symlink_to(source)
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in source.rglob("*")}
    moved: list[int] = []
    report = LocalRemote().download(parse_uri(f"file://{source}"), spelling(source), progress=moved.append)
    assert (report.files, report.bytes, report.keys) == (2, 3 * 1024 * 1024 + 10, ("a/b/deep.bin", "top.txt"))
    assert moved == []
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in source.rglob("*")} == before


def test_download_of_a_single_file_into_its_own_folder_copies_nothing(source: Path) -> None:
    before = (source / "top.txt").stat().st_ino
    report = LocalRemote().download(parse_uri(f"file://{source}/top.txt"), source)
    assert (report.files, report.keys) == (1, ("top.txt",))
    assert (source / "top.txt").stat().st_ino == before


def test_a_download_removes_the_partial_files_a_killed_download_left(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "a" / "b").mkdir(parents=True)
    (dest / "a" / "b" / ".deep.bin.k2j4.mldock-partial").write_bytes(b"half")
    (dest / ".top.txt.x1.mldock-partial").write_bytes(b"half")
    (dest / "kept.mldock-partial.txt").write_text("not a partial file")
    LocalRemote().download(parse_uri(f"file://{source}"), dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "a/b/deep.bin",
        "kept.mldock-partial.txt",
        "top.txt",
    ]
