"""BlobRemote's shared rules, on an in-memory cloud: planning, unsafe keys, markers, atomicity, retry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

import pytest

from mldock.errors import RemoteNotFoundError, StorageError, UnsafeKeyError
from mldock.storage import parse_uri
from mldock.storage.blob import BlobRemote, Listed, Progress, folder_prefix, run_parallel


class NoSuchBucket(Exception):
    """Carries botocore's error code, so the classifier recognises it."""

    response: ClassVar[dict[str, Any]] = {"Error": {"Code": "NoSuchBucket"}}


class MemoryRemote(BlobRemote):
    """A BlobRemote over a dict; `fail` maps a key to exceptions raised on its next downloads."""

    scheme = "s3"

    def __init__(self, objects: dict[str, bytes] | None = None, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.buckets: dict[str, dict[str, bytes]] = {"bkt": dict(objects or {})}
        self.fail: dict[str, list[BaseException]] = {}
        self.calls: list[str] = []

    def _iter_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        if bucket not in self.buckets:
            raise NoSuchBucket(bucket)
        for key, data in sorted(self.buckets[bucket].items()):
            if key.startswith(prefix):
                yield key, len(data), None

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        data = self.buckets.get(bucket, {}).get(key)
        return None if data is None else (len(data), None)

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        self.calls.append(item.key)
        data = self.buckets[bucket][item.key]
        handle.write(data[: len(data) // 2])
        errors = self.fail.get(item.key)
        if errors:
            raise errors.pop(0)
        handle.write(data[len(data) // 2 :])
        progress(len(data))

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        self.buckets[bucket][key] = path.read_bytes()
        progress(size)

    def _bucket_exists(self, bucket: str) -> bool:
        return bucket in self.buckets

    def _create_bucket(self, bucket: str) -> None:
        self.buckets[bucket] = {}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("prefix", "expected"), [("", ""), ("a", "a/"), ("a/", "a/"), ("a/b", "a/b/"), ("/", "")], ids=str
)
def test_folder_prefix(prefix: str, expected: str) -> None:
    assert folder_prefix(prefix) == expected


def test_download_keeps_structure_and_makes_marker_folders(tmp_path: Path) -> None:
    remote = MemoryRemote({"p/a/b.txt": b"ab", "p/zero": b"", "p/empty/": b"", "p/": b"", "px/other": b"x"})
    report = remote.download(parse_uri("s3://bkt/p"), tmp_path)
    assert _tree(tmp_path) == {"a/b.txt": b"ab", "zero": b""}
    assert (tmp_path / "empty").is_dir()
    assert report.files == 2
    assert report.bytes == 2
    assert remote.list(parse_uri("s3://bkt/p"))[0].key == "a/b.txt"


def test_single_object_lands_under_its_own_name(tmp_path: Path) -> None:
    remote = MemoryRemote({"models/model.bin": b"weights"})
    remote.download(parse_uri("s3://bkt/models/model.bin"), tmp_path)
    assert _tree(tmp_path) == {"model.bin": b"weights"}


@pytest.mark.parametrize(
    "bad_key",
    ["p/../escape", "p/a\\b", "p//abs", "p/./x", "p/a/../../x"],
    ids=["dotdot", "backslash", "double-slash", "dot", "deep-dotdot"],
)
def test_unsafe_key_refused_before_anything_is_written(tmp_path: Path, bad_key: str) -> None:
    remote = MemoryRemote({"p/aaa-first": b"1", bad_key: b"2", "p/zzz-last": b"3"})
    with pytest.raises(UnsafeKeyError, match="refusing object key"):
        remote.download(parse_uri("s3://bkt/p"), tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert remote.calls == []


def test_object_that_is_also_a_folder_is_refused(tmp_path: Path) -> None:
    remote = MemoryRemote({"p/a": b"1", "p/a/b": b"2"})
    with pytest.raises(StorageError, match="both an object and a folder"):
        remote.download(parse_uri("s3://bkt/p"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_bucket_and_empty_prefix_are_not_found(tmp_path: Path) -> None:
    remote = MemoryRemote({"p/a": b"1"})
    with pytest.raises(RemoteNotFoundError, match="bucket 'nope' does not exist"):
        remote.download(parse_uri("s3://nope/p"), tmp_path)
    with pytest.raises(RemoteNotFoundError, match="s3://bkt/q: no object"):
        remote.download(parse_uri("s3://bkt/q"), tmp_path)


def test_failed_download_leaves_no_file_and_no_partial(tmp_path: Path) -> None:
    remote = MemoryRemote({"p/big": b"x" * 100}, attempts=1)
    remote.fail["p/big"] = [ValueError("stream cut")]
    with pytest.raises(StorageError, match=r"download s3://bkt/p/big failed: ValueError: stream cut"):
        remote.download(parse_uri("s3://bkt/p"), tmp_path)
    assert list(tmp_path.rglob("*")) == []


def test_transient_error_is_retried(tmp_path: Path) -> None:
    remote = MemoryRemote({"p/f": b"data"}, attempts=3)
    remote.fail["p/f"] = [ConnectionResetError("reset by peer")]
    remote.download(parse_uri("s3://bkt/p"), tmp_path)
    assert _tree(tmp_path) == {"f": b"data"}
    assert remote.calls == ["p/f", "p/f"]


def test_size_mismatch_is_an_error(tmp_path: Path) -> None:
    class Short(MemoryRemote):
        def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
            handle.write(b"x")

    with pytest.raises(StorageError, match="is 4 bytes but 1 arrived"):
        Short({"p/f": b"data"}, attempts=2).download(parse_uri("s3://bkt/p"), tmp_path)
    assert list(tmp_path.rglob("*")) == []


def test_upload_walks_files_skips_partials_and_needs_the_bucket(tmp_path: Path) -> None:
    (tmp_path / "d/e").mkdir(parents=True)
    (tmp_path / "d/e/f.txt").write_bytes(b"f")
    (tmp_path / "top").write_bytes(b"")
    (tmp_path / ".x.abc.mldock-partial").write_bytes(b"half")
    remote = MemoryRemote()
    report = remote.upload(tmp_path, parse_uri("s3://bkt/run"))
    assert remote.buckets["bkt"] == {"run/d/e/f.txt": b"f", "run/top": b""}
    assert report.keys == ("d/e/f.txt", "top")
    with pytest.raises(RemoteNotFoundError, match="MLDOCK_CREATE_MISSING_BUCKETS"):
        remote.upload(tmp_path, parse_uri("s3://new/run"))
    remote.upload(tmp_path, parse_uri("s3://new/run"), create_bucket=True)
    assert "run/top" in remote.buckets["new"]


def test_upload_of_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is not a folder"):
        MemoryRemote().upload(tmp_path / "missing", parse_uri("s3://bkt/run"))


def test_wrong_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="handles s3:// URIs only"):
        MemoryRemote().list(parse_uri("gs://bkt/p"))


def test_progress_serialises_callbacks_from_many_threads(tmp_path: Path) -> None:
    inside = 0
    overlap = False
    total = 0
    guard = threading.Lock()

    def callback(count: int) -> None:
        nonlocal inside, overlap, total
        with guard:
            inside += 1
            overlap = overlap or inside > 1
        total += count
        with guard:
            inside -= 1

    remote = MemoryRemote({f"p/{i:03d}": bytes(i) for i in range(200)}, max_concurrency=8)
    remote.download(parse_uri("s3://bkt/p"), tmp_path, progress=callback)
    assert total == sum(range(200))
    assert not overlap


def test_run_parallel_raises_the_first_failure_and_keeps_order() -> None:
    assert run_parallel(lambda x: x * 2, list(range(50)), 4) == [x * 2 for x in range(50)]

    def boom(x: int) -> int:
        if x == 7:
            raise RuntimeError("seven")
        return x

    with pytest.raises(RuntimeError, match="seven"):
        run_parallel(boom, list(range(50)), 4)
