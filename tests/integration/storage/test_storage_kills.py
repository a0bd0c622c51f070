"""A transfer killed mid-way (SIGKILL of a real child process) leaves nothing the next run trips over: the next
download into the folder removes the `.mldock-partial` files, the next S3 upload aborts the incomplete multipart
uploads of the keys it writes. The child reads its settings from its arguments, not from os.environ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mldock.storage import parse_uri
from mldock.storage.registry import remote_for

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
CHILD = """
import json, sys
from pathlib import Path
from mldock.storage import parse_uri
from mldock.storage.registry import remote_for
direction, uri, folder, env = sys.argv[1], parse_uri(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
remote = remote_for(uri, env)
if direction == "download":
    remote.download(uri, folder)
else:
    remote.upload(folder, uri)
"""
EMULATOR_FIXTURE = {"s3": "_s3_emu", "gs": "_gcs_emu", "az": "_azure_emu"}


def _tree(root: Path, big: int, small: int = 40) -> dict[str, bytes]:
    files = {f"big/b{i}.bin": os.urandom(24 * MiB + i) for i in range(big)}
    files.update({f"small/s{i:02d}.txt": os.urandom(2000) for i in range(small)})
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return files


def _kill_when(child: subprocess.Popen[bytes], ready: Callable[[], bool], limit: float = 120.0) -> None:
    """SIGKILL `child` as soon as `ready()` holds (polled; bounded by `limit` seconds)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and child.poll() is None:
        if ready():
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, f"the child was not killed mid-transfer (exit {child.returncode})"


def _partials(folder: Path) -> list[Path]:
    return list(folder.rglob("*.mldock-partial")) if folder.exists() else []


def _child(direction: str, uri: str, folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, direction, uri, str(folder), json.dumps(env)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_a_download_killed_mid_way_leaves_partials_the_next_download_removes(
    scheme: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = dict(request.getfixturevalue(EMULATOR_FIXTURE[scheme]).env())
    source = tmp_path / "source"
    files = _tree(source, big=3)
    uri = parse_uri(f"{scheme}://kill-{uuid.uuid4().hex[:12]}/data")
    remote_for(uri, env).upload(source, uri, create_bucket=True)
    dest = tmp_path / "dest"
    child = _child("download", str(uri), dest, env)
    _kill_when(child, lambda: bool(_partials(dest)))
    left = _partials(dest)
    assert left, "the killed download left no partial file to clean up"
    print(f"{scheme}: {len(left)} partial files left by the killed download")
    report = remote_for(uri, env).download(uri, dest)
    assert report.files == len(files)
    assert _partials(dest) == []
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == files


def test_an_s3_upload_killed_mid_way_leaves_a_multipart_upload_the_next_upload_aborts(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    emulator = request.getfixturevalue("_s3_emu")
    env = dict(emulator.env())
    client = emulator.client()
    source = tmp_path / "source"
    files = _tree(source, big=2, small=0)
    bucket = f"kill-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.create_multipart_upload(Bucket=bucket, Key="elsewhere/other.bin")  # not ours: must stay
    uri = parse_uri(f"s3://{bucket}/out")

    def ours() -> list[str]:
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix="out/").get("Uploads", [])
        return [upload["Key"] for upload in uploads]

    child = _child("upload", str(uri), source, env)
    _kill_when(child, lambda: bool(ours()))
    assert ours(), "the killed upload left no incomplete multipart upload"
    remote_for(uri, env).upload(source, uri)
    assert ours() == []
    others = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [upload["Key"] for upload in others] == ["elsewhere/other.bin"]
    back = tmp_path / "back"
    remote_for(uri, env).download(uri, back)
    assert {p.relative_to(back).as_posix(): p.read_bytes() for p in back.rglob("*") if p.is_file()} == files
