"""Requests per small object, counted at the emulator's door: one per object each way (none to download an empty
one), listing and the bucket lookup aside, and each object verified from what that one request and its response
carry.

A counting proxy (request_counter.RequestCounter) sits between the remote and the real emulator; the test fails
when a second request per object appears (a HEAD before a GET, a separate checksum or metadata call), and on S3
when botocore's flexible checksums come back on small objects (a CRC32 on every PUT, `x-amz-checksum-mode` on
every GET: work the MD5 that S3 computes for the ETag anyway already does).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from request_counter import Request, RequestCounter

from mldock.emulators.azure import azure_env
from mldock.emulators.gcs import gcs_env
from mldock.emulators.s3 import s3_env
from mldock.errors import StorageError
from mldock.storage import parse_uri, remote_for

CLOUDS = ["s3", "gs", "az"]
_EMULATOR_FIXTURE = {"s3": "_s3_emu", "gs": "_gcs_emu", "az": "_azure_emu"}
_ENV = {"s3": s3_env, "gs": gcs_env, "az": azure_env}
SIZES = [0, 1, 4096, 65_537, 1024 * 1024 + 3]  # empty, tiny, the benchmark's 4 KiB, past 64 KiB and 1 MiB


def _tree(root: Path, count: int) -> dict[str, bytes]:
    """`count` files of the sizes above, in nested folders: {relative key: content}."""
    files: dict[str, bytes] = {}
    for i in range(count):
        rel = f"part-{i % 3}/sub-{i % 2}/file-{i:03d}.bin"
        data = os.urandom(SIZES[i % len(SIZES)])
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        files[rel] = data
    return files


def _object_key(cloud: str, request: Request, bucket: str) -> str | None:
    """The object key a request addresses, or None for a bucket-level request (listing, bucket lookup)."""
    path = unquote(request.path)
    if cloud == "gs":
        if "uploadType=multipart" in request.query or "uploadType=resumable" in request.query:
            return "upload"  # the key is in the body's metadata: counted by number below
        marker = f"/b/{bucket}/o/"
        return path.split(marker, 1)[1] if marker in path else None
    prefix = f"/{bucket}/" if cloud == "s3" else f"/devstoreaccount1/{bucket}/"
    return path[len(prefix) :] if path.startswith(prefix) and len(path) > len(prefix) else None


@pytest.fixture(params=CLOUDS, ids=CLOUDS)
def counted(request: pytest.FixtureRequest) -> Any:
    """(cloud, emulator, proxy, settings reaching the emulator through the proxy)."""
    cloud: str = request.param
    emulator = request.getfixturevalue(_EMULATOR_FIXTURE[cloud])
    with RequestCounter(emulator.port) as proxy:
        yield cloud, emulator, proxy, _ENV[cloud](proxy.url)


def test_one_request_per_small_object_each_way(counted: Any, tmp_path: Path) -> None:
    cloud, emulator, proxy, env = counted
    bucket = f"requests-{cloud}-{os.getpid()}"
    emulator.create_bucket(bucket)
    files = _tree(tmp_path / "src", 25)
    uri = parse_uri(f"{cloud}://{bucket}/run/out")
    remote = remote_for(uri, env)

    proxy.clear()
    remote.upload(tmp_path / "src", uri)
    sent = proxy.requests
    per_object = [r for r in sent if _object_key(cloud, r, bucket) is not None]
    assert len(per_object) == len(files), [f"{r.method} {r.target}" for r in sent]
    assert len(sent) - len(per_object) == 1  # the bucket lookup
    if cloud != "gs":
        keys = Counter(_object_key(cloud, r, bucket) for r in per_object)
        assert keys == Counter(f"run/out/{rel}" for rel in files)
    if cloud == "s3":
        for put in per_object:
            assert "content-md5" in put.headers, put.headers
            assert not [h for h in put.headers if h.startswith("x-amz-checksum")], put.headers
    if cloud == "az":
        assert all("content-md5" in put.headers for put in per_object)

    proxy.clear()
    remote.download(uri, tmp_path / "dest")
    received = proxy.requests
    gets = [r for r in received if _object_key(cloud, r, bucket) is not None]
    non_empty = Counter(f"run/out/{rel}" for rel, data in files.items() if data)  # empty: all in the listing
    assert Counter(_object_key(cloud, r, bucket) for r in gets) == non_empty, [
        f"{r.method} {r.target}" for r in received
    ]
    assert {r.method for r in gets} == {"GET"}
    assert len(received) - len(gets) == 1  # the listing (one page)
    if cloud == "s3":
        assert not [r for r in gets if "x-amz-checksum-mode" in r.headers]
    for rel, data in files.items():
        assert (tmp_path / "dest" / rel).read_bytes() == data


def test_s3_small_download_is_checked_against_its_get_etag(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    emulator = request.getfixturevalue("_s3_emu")
    bucket = f"etag-check-{os.getpid()}"
    emulator.create_bucket(bucket)
    emulator.client().put_object(Bucket=bucket, Key="p/f.bin", Body=os.urandom(4096))
    uri = parse_uri(f"s3://{bucket}/p")
    remote = remote_for(uri, emulator.env())
    remote.attempts = 1  # type: ignore[attr-defined]

    def wrong_etag(parsed: dict[str, Any], **kwargs: Any) -> None:
        parsed["ETag"] = '"0123456789abcdef0123456789abcdef"'  # as if the bytes had changed on the way

    remote.client.meta.events.register("after-call.s3.GetObject", wrong_etag)  # type: ignore[attr-defined]
    with pytest.raises(StorageError, match="does not match the object's ETag"):
        remote.download(uri, tmp_path / "dest")
    assert not list((tmp_path / "dest").rglob("*.bin"))  # nothing renamed into place
