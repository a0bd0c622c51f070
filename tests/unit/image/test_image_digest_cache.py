"""DigestCache: a file whose signature is unchanged is not read again; anything else is hashed as before."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from mldock.image.builder import digest_cache, plan_build
from mldock.image.context import DigestCache, content_hash, file_signature, project_files
from mldock.project.config import load_project

INPUTS = {"dockerfile": "FROM x\n", "base_image": "x", "requirements": "", "mldock_source": "abc"}


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_signature_says_settled_only_some_time_after_the_last_change(tmp_path: Path) -> None:
    info = os.stat(write(tmp_path / "f", b"x"))
    assert file_signature(info)[0] == file_signature(info, now=time.time() + 10)[0]
    assert not file_signature(info)[1]
    assert file_signature(info, now=time.time() + 10)[1]


def test_the_hash_with_a_cache_is_the_hash_without(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("A = 1\n")
    (tmp_path / "data.bin").write_bytes(os.urandom(3000))
    files = project_files(tmp_path)
    cache = DigestCache.load(tmp_path.parent / "cache.json")
    assert content_hash(files, **INPUTS, digests=cache) == content_hash(files, **INPUTS)
    assert content_hash(files, **INPUTS, digests=cache) == content_hash(files, **INPUTS)


def test_a_matching_signature_is_trusted_without_reading_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "model.bin", b"the real bytes")
    signature, _ = file_signature(os.stat(path))
    planted = hashlib.sha256(b"something else").hexdigest()
    cache_file = tmp_path.parent / "planted.json"
    cache_file.write_text(json.dumps({"entries": {str(path): [signature, planted]}}))
    assert DigestCache.load(cache_file).file_digest(path).hex() == planted  # the file was not read


def test_a_changed_file_is_hashed_again(tmp_path: Path) -> None:
    path = write(tmp_path / "model.bin", b"first")
    cache = DigestCache(settle_seconds=-1.0)  # every file counts as settled: remembered at once
    first = cache.file_digest(path)
    assert cache.lookup(str(path), file_signature(os.stat(path))[0]) == first.hex()
    path.write_bytes(b"second, longer")
    assert cache.file_digest(path) == hashlib.sha256(b"second, longer").digest() != first


def test_a_recently_changed_file_is_not_remembered(tmp_path: Path) -> None:
    path = write(tmp_path / "fresh.py", b"x = 1\n")
    cache = DigestCache()  # the file was written just now: within SETTLE_SECONDS
    cache.file_digest(path)
    assert cache.lookup(str(path), file_signature(os.stat(path))[0]) is None


def test_settled_entries_survive_a_save_and_unused_ones_are_dropped(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache" / "digests.json"
    cache = DigestCache.load(cache_file)
    assert cache.remember("kept", "sig-1", "v1", settled=True) == "v1"
    cache.remember("fresh", "sig-2", "v2", settled=False)
    cache.save()
    again = DigestCache.load(cache_file)
    assert again.lookup("kept", "sig-1") == "v1"
    assert again.lookup("kept", "other signature") is None
    assert again.lookup("fresh", "sig-2") is None
    again.remember("new", "sig-3", "v3", settled=True)
    again.save()
    assert set(json.loads(cache_file.read_text())["entries"]) == {"kept", "new"}


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"entries": {"k": ["only one"]}}'], ids=str)
def test_an_unreadable_cache_file_is_an_empty_cache(tmp_path: Path, text: str) -> None:
    cache_file = tmp_path / "digests.json"
    cache_file.write_text(text)
    cache = DigestCache.load(cache_file)
    assert cache.lookup("k", "only one") is None
    path = write(tmp_path / "f", b"abc")
    assert cache.file_digest(path) == hashlib.sha256(b"abc").digest()


def test_plan_build_keeps_the_project_digests_in_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLDOCK_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "project"
    root.mkdir()
    (root / "mldock.json").write_text('{"name": "demo", "base_image": "localhost/base:1"}')
    (root / "trainer.py").write_text("def train(env):\n    pass\n")
    project = load_project(root)
    first = plan_build(project)
    assert digest_cache(project).path == tmp_path / "cache" / "digests" / f"project-{_key(root)}.json"
    settled = DigestCache(tmp_path / "given.json", settle_seconds=-1.0)
    assert plan_build(project, digests=settled).content_hash == first.content_hash
    kept = json.loads((tmp_path / "given.json").read_text())["entries"]
    assert set(kept) == {str(root / "mldock.json"), str(root / "trainer.py")}
    (root / "trainer.py").write_text("def train(env):\n    return 1\n")
    assert plan_build(project, digests=DigestCache.load(tmp_path / "given.json")).content_hash != first.content_hash


def _key(root: Path) -> str:
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
