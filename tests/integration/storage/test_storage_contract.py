"""One contract for every remote (s3, gs, az against real emulators; file on disk): what goes up comes down
byte for byte, with the structure, names and errors the container contract promises."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mldock.errors import RemoteNotFoundError, StorageError, UnsafeKeyError

pytestmark = pytest.mark.integration

MiB = 1024 * 1024

ODD_NAMES = {
    "plain.txt": b"plain",
    "zero-bytes": b"",
    "with space/and more space.csv": b"a,b\n1,2\n",
    "plus+sign/a+b=c.txt": b"+",
    "percent%41/100%.txt": b"%",
    "unicodé/日本語/ü.bin": "ü".encode(),
    "deep/a/b/c/d/e/f.json": b"{}",
    "dots.in.name/..hidden/.also": b".",
}


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_odd_names_round_trip(storage_backend, tmp_path: Path) -> None:
    bucket = storage_backend.new_bucket()
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_tree(src, ODD_NAMES)
    remote = storage_backend.remote()
    uri = storage_backend.uri(bucket, "runs/1")
    up = remote.upload(src, uri)
    assert (up.files, up.bytes) == (len(ODD_NAMES), sum(map(len, ODD_NAMES.values())))
    assert [(o.key, o.size) for o in remote.list(uri)] == sorted((k, len(v)) for k, v in ODD_NAMES.items())
    down = remote.download(uri, dest)
    assert _read_tree(dest) == ODD_NAMES
    assert down.files == len(ODD_NAMES)
    assert not list(dest.rglob("*.mldock-partial"))


def test_prefix_does_not_match_siblings(storage_backend, tmp_path: Path) -> None:
    bucket = storage_backend.new_bucket()
    storage_backend.put(bucket, "data/train/a.csv", b"a")
    storage_backend.put(bucket, "data/training-old/b.csv", b"b")
    storage_backend.remote().download(storage_backend.uri(bucket, "data/train"), tmp_path)
    assert _read_tree(tmp_path) == {"a.csv": b"a"}


def test_single_object_download(storage_backend, tmp_path: Path) -> None:
    bucket = storage_backend.new_bucket()
    storage_backend.put(bucket, "models/model.pkl", b"weights")
    report = storage_backend.remote().download(storage_backend.uri(bucket, "models/model.pkl"), tmp_path)
    assert _read_tree(tmp_path) == {"model.pkl": b"weights"}
    assert report.files == 1


def test_missing_bucket_or_prefix_is_a_clear_error(storage_backend, tmp_path: Path) -> None:
    remote = storage_backend.remote()
    missing_bucket = storage_backend.uri(storage_backend.bucket_name(), "x")
    with pytest.raises(RemoteNotFoundError) as info:
        remote.download(missing_bucket, tmp_path)
    assert str(missing_bucket) in str(info.value)
    bucket = storage_backend.new_bucket()
    missing_prefix = storage_backend.uri(bucket, "nothing/here")
    with pytest.raises(RemoteNotFoundError, match="nothing/here"):
        remote.download(missing_prefix, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_output_bucket_is_an_error_unless_asked_to_create_it(storage_backend, tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_bytes(b"{}")
    remote = storage_backend.remote()
    name = storage_backend.bucket_name()
    storage_backend.buckets.append(name)
    uri = storage_backend.uri(name, "out")
    with pytest.raises(RemoteNotFoundError, match="MLDOCK_CREATE_MISSING_BUCKETS"):
        remote.upload(tmp_path, uri)
    assert remote.upload(tmp_path, uri, create_bucket=True).files == 1
    assert [o.key for o in remote.list(uri)] == ["metrics.json"]


def test_progress_adds_up(storage_backend, tmp_path: Path) -> None:
    bucket = storage_backend.new_bucket()
    files = {f"f{i}": os.urandom(1000 * i) for i in range(12)}
    _write_tree(tmp_path / "src", files)
    seen: list[int] = []
    remote = storage_backend.remote()
    uri = storage_backend.uri(bucket, "p")
    remote.upload(tmp_path / "src", uri, progress=seen.append)
    assert sum(seen) == sum(map(len, files.values()))
    seen.clear()
    remote.download(uri, tmp_path / "dest", progress=seen.append)
    assert sum(seen) == sum(map(len, files.values()))


@pytest.mark.parametrize(
    "bad_key",
    ["in/..\\..\\evil.txt", "in//abs.txt", "in/a\\b.txt"],
    ids=["backslash-dotdot", "double-slash", "backslash"],
)
def test_unsafe_keys_are_refused_and_nothing_is_written(storage_backend, tmp_path: Path, bad_key: str) -> None:
    if storage_backend.scheme == "file":
        pytest.skip("a filesystem cannot hold these names as keys")
    if storage_backend.scheme == "az" and bad_key == "in/a\\b.txt":
        pytest.skip("Azure stores a backslash as a slash: the key is the harmless in/a/b.txt")
    bucket = storage_backend.new_bucket()
    storage_backend.put(bucket, "in/aaa.txt", b"fine")
    storage_backend.put(bucket, bad_key, b"evil")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeKeyError, match="refusing object key"):
        storage_backend.remote().download(storage_backend.uri(bucket, "in"), dest)
    assert list(dest.iterdir()) == []
    assert list(tmp_path.rglob("evil*")) == []


def test_dotdot_keys_are_refused(storage_backend, tmp_path: Path) -> None:
    if storage_backend.scheme in ("file", "az"):
        pytest.skip("the filesystem and Azure normalise `..` away: such a key cannot be stored")
    bucket = storage_backend.new_bucket()
    storage_backend.put(bucket, "in/ok.txt", b"fine")
    storage_backend.put(bucket, "in/../../escape.txt", b"evil")
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeKeyError):
        storage_backend.remote().download(storage_backend.uri(bucket, "in"), dest)
    assert not dest.exists() or list(dest.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_folder_markers_become_folders(storage_backend, tmp_path: Path) -> None:
    if storage_backend.scheme == "file":
        pytest.skip("no folder-marker objects on a filesystem")
    bucket = storage_backend.new_bucket()
    storage_backend.put(bucket, "in/", b"")
    storage_backend.put(bucket, "in/empty/", b"")
    storage_backend.put(bucket, "in/sub/", b"")
    storage_backend.put(bucket, "in/sub/file.txt", b"x")
    storage_backend.remote().download(storage_backend.uri(bucket, "in"), tmp_path)
    assert _read_tree(tmp_path) == {"sub/file.txt": b"x"}
    assert (tmp_path / "empty").is_dir()


def test_five_thousand_small_objects(storage_backend, tmp_path: Path) -> None:
    """More than every SDK's page size (1,000 for S3 and GCS, 5,000 for Azure)."""
    count = 5050
    files = {f"shard-{i // 500:02d}/obj-{i:05d}.txt": str(i).encode() for i in range(count)}
    _write_tree(tmp_path / "src", files)
    bucket = storage_backend.new_bucket()
    remote = storage_backend.remote()
    uri = storage_backend.uri(bucket, "many")
    assert remote.upload(tmp_path / "src", uri).files == count
    assert len(remote.list(uri)) == count
    remote.download(uri, tmp_path / "dest")
    assert _read_tree(tmp_path / "dest") == files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def test_file_over_64_mib(storage_backend, tmp_path: Path) -> None:
    """Multipart (S3), resumable (GCS), block (Azure) upload; ranged/streamed download."""
    src = tmp_path / "src"
    src.mkdir()
    big = src / "weights.bin"
    with big.open("wb") as handle:
        for _ in range(65):
            handle.write(os.urandom(MiB))
        handle.write(b"tail")
    bucket = storage_backend.new_bucket()
    remote = storage_backend.remote()
    uri = storage_backend.uri(bucket, "big")
    remote.upload(src, uri)
    assert remote.list(uri)[0].size == 65 * MiB + 4
    remote.download(uri, tmp_path / "dest")
    assert _sha256(tmp_path / "dest" / "weights.bin") == _sha256(big)


def test_upload_of_a_missing_folder_is_a_storage_error(storage_backend, tmp_path: Path) -> None:
    bucket = storage_backend.new_bucket()
    with pytest.raises(StorageError, match="not a folder"):
        storage_backend.remote().upload(tmp_path / "missing", storage_backend.uri(bucket, "x"))


# -- property: arbitrary trees round-trip byte for byte -------------------------------------------------------

_SEGMENT = st.text(alphabet=st.sampled_from(list("abcXYZ019 _-+%=()~!,;'@éü日本ßΩ")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and not s.startswith(".") and not s.endswith(".")
)
_CONTENT = st.one_of(st.just(b""), st.binary(min_size=1, max_size=64), st.binary(min_size=1000, max_size=40_000))


def _trees(depth: int = 3) -> st.SearchStrategy[dict[str, bytes]]:
    """Nested folders as {path: bytes}; a name is a file or a folder, never both (case-insensitively unique)."""

    def node(level: int) -> st.SearchStrategy[dict[str, bytes]]:
        children = st.dictionaries(
            _SEGMENT.map(str.lower),
            _CONTENT if level >= depth else st.one_of(_CONTENT, st.deferred(lambda: node(level + 1))),
            min_size=1,
            max_size=5,
        )

        def flatten(entries: dict[str, object]) -> dict[str, bytes]:
            flat: dict[str, bytes] = {}
            for name, value in entries.items():
                if isinstance(value, bytes):
                    flat[name] = value
                else:
                    assert isinstance(value, dict)
                    flat.update({f"{name}/{key}": data for key, data in value.items()})
            return flat

        return children.map(flatten).filter(bool)

    return node(1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=_trees())
def test_generated_trees_round_trip(storage_backend, tree: dict[str, bytes]) -> None:
    if not storage_backend.buckets:
        storage_backend.new_bucket()
    bucket = storage_backend.buckets[0]
    uri = storage_backend.uri(bucket, f"prop-{uuid.uuid4().hex[:8]}")
    remote = storage_backend.remote()
    with tempfile.TemporaryDirectory() as tmp:
        src, dest = Path(tmp, "src"), Path(tmp, "dest")
        _write_tree(src, tree)
        remote.upload(src, uri)
        remote.download(uri, dest)
        assert _read_tree(dest) == tree
