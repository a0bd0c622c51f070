"""Wildcard prefixes on each cloud remote against its emulator (`gs://b/data/train-*.csv`, as Vertex AI writes
its data URIs): only the matching objects are listed and downloaded, by their names below the folder before
the first wildcard; no match is a not-found error; uploading to a pattern is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mldock.errors import RemoteNotFoundError, StorageError

pytestmark = pytest.mark.integration

OBJECTS = {
    "data/train-0.csv": b"a\n1\n",
    "data/train-1.csv": b"a\n2\n",
    "data/train-1.csv.bak": b"old",
    "data/test-0.csv": b"a\n3\n",
    "data/sub/train-2.csv": b"a\n4\n",
    "data/train-x/y.csv": b"nested",
}


@pytest.fixture
def seeded(storage_backend):  # type: ignore[no-untyped-def]
    bucket = storage_backend.new_bucket()
    for key, data in OBJECTS.items():
        storage_backend.put(bucket, key, data)
    return storage_backend, bucket


@pytest.mark.parametrize("storage_backend", ["s3", "gs", "az"], indirect=True)
@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param("data/train-*.csv", {"train-0.csv", "train-1.csv"}, id="star"),
        pytest.param("data/train-*", {"train-0.csv", "train-1.csv", "train-1.csv.bak"}, id="star-at-the-end"),
        pytest.param("data/**/train-*.csv", {"sub/train-2.csv"}, id="double-star-crosses-folders"),
        pytest.param("data/*-0.csv", {"train-0.csv", "test-0.csv"}, id="star-after-the-folder"),
        pytest.param("d*/test-0.csv", {"data/test-0.csv"}, id="star-in-the-first-folder"),
    ],
)
def test_only_matching_objects_are_downloaded(seeded, tmp_path: Path, pattern: str, expected: set[str]) -> None:  # type: ignore[no-untyped-def]
    backend, bucket = seeded
    uri = backend.uri(bucket, pattern)
    remote = backend.remote()
    assert {item.key for item in remote.list(uri)} == expected
    report = remote.download(uri, tmp_path / "dest")
    files = {p.relative_to(tmp_path / "dest").as_posix() for p in (tmp_path / "dest").rglob("*") if p.is_file()}
    assert files == expected
    assert report.files == len(expected)
    for name in expected:
        key = pattern[: pattern.rfind("/", 0, pattern.find("*")) + 1]
        assert (tmp_path / "dest" / name).read_bytes() == OBJECTS[key + name]


@pytest.mark.parametrize("storage_backend", ["s3", "gs", "az"], indirect=True)
def test_no_match_is_not_found_and_upload_to_a_pattern_is_refused(seeded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    backend, bucket = seeded
    remote = backend.remote()
    with pytest.raises(RemoteNotFoundError, match="no object matches the pattern"):
        remote.download(backend.uri(bucket, "data/valid-*.csv"), tmp_path / "none")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_text("a")
    with pytest.raises(StorageError, match="can only be read"):
        remote.upload(tmp_path / "src", backend.uri(bucket, "out/*"))
