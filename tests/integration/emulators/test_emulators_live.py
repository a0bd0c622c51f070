"""The three real emulators: start, answer the SDKs, hand out settings, manage buckets, stop without a trace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mldock.emulators import AzureBlobEmulator, EmulatorNotInstalledError, EmulatorStartError, GCSEmulator, S3Emulator
from mldock.emulators import gcs as gcs_module
from mldock.emulators._process import PortInUse

pytestmark = pytest.mark.integration

AnyEmulator = S3Emulator | GCSEmulator | AzureBlobEmulator
FACTORIES: list[Callable[..., AnyEmulator]] = [S3Emulator, GCSEmulator, AzureBlobEmulator]
IDS = ["s3", "gcs", "azure"]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _sdk_round_trip(emulator: AnyEmulator, bucket: str) -> bytes:
    """Put and get one object with the official SDK, configured only through `env()` in a child process."""
    code = {
        "s3": (
            "import boto3; c = boto3.client('s3');"
            "c.put_object(Bucket=B, Key='k/é +%.txt', Body=b'hello');"
            "print(c.get_object(Bucket=B, Key='k/é +%.txt')['Body'].read().decode())"
        ),
        "gcs": (
            "from google.cloud import storage; b = storage.Client().bucket(B);"
            "b.blob('k/é +%.txt').upload_from_string(b'hello');"
            "print(b.blob('k/é +%.txt').download_as_bytes().decode())"
        ),
        "azure": (
            "import os; from azure.storage.blob import BlobServiceClient;"
            "s = BlobServiceClient.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING']);"
            "b = s.get_blob_client(B, 'k/é +%.txt'); b.upload_blob(b'hello', overwrite=True);"
            "print(b.download_blob().readall().decode())"
        ),
    }[emulator.name]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STORAGE_EMULATOR", "AZURE_"))}
    result = subprocess.run(
        [sys.executable, "-c", f"B = {bucket!r}; {code}"],
        env={**env, **emulator.env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().encode()


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_lifecycle_sdk_buckets_and_clean_stop(factory: Callable[..., AnyEmulator]) -> None:
    with factory() as emulator:
        port, pid = emulator.port, emulator.pid
        assert pid is not None
        assert emulator.endpoint_url == f"http://127.0.0.1:{port}"
        bucket = f"b-{uuid.uuid4().hex[:12]}"
        emulator.create_bucket(bucket)
        emulator.create_bucket(bucket)  # idempotent
        assert bucket in emulator.bucket_names()
        assert _sdk_round_trip(emulator, bucket) == b"hello"
        emulator.delete_bucket(bucket)
        emulator.delete_bucket(bucket)  # idempotent
        assert bucket not in emulator.bucket_names()
        emulator.create_bucket(bucket + "-2")
        emulator.reset()
        assert emulator.bucket_names() == []
        assert emulator.logs()
        assert not {k for k in emulator.env() if k in os.environ and os.environ[k] == emulator.env()[k]}
    assert not _listening(port)
    assert _gone(pid)
    assert not emulator.running
    assert emulator.pid is None
    emulator.stop()  # idempotent


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_two_at_once_get_their_own_ports_and_data(factory: Callable[..., AnyEmulator]) -> None:
    with factory() as first, factory() as second:
        assert first.port != second.port
        first.create_bucket("only-in-first")
        assert "only-in-first" not in second.bucket_names()


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_binds_all_interfaces_when_asked(factory: Callable[..., AnyEmulator]) -> None:
    with factory(host="0.0.0.0") as emulator:
        assert emulator.endpoint_url.startswith("http://127.0.0.1:")
        assert emulator.env(host="host.containers.internal") != emulator.env()
        out = subprocess.run(["ss", "-ltn"], capture_output=True, text=True, check=False).stdout
        assert f"0.0.0.0:{emulator.port}" in out or f"*:{emulator.port}" in out


def test_gcs_on_a_taken_port_reports_it(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(PortInUse) as info:
            GCSEmulator(port=port).start()
        assert "address already in use" in info.value.log_tail
        assert isinstance(info.value, EmulatorStartError)


def test_gcs_retries_with_a_fresh_port_when_the_picked_one_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    real_pick = gcs_module.pick_port
    picks = iter([taken])
    monkeypatch.setattr(gcs_module, "pick_port", lambda host: next(picks, None) or real_pick(host))
    try:
        with GCSEmulator() as emulator:
            assert emulator.port != taken
    finally:
        blocker.close()


def test_missing_azurite_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLDOCK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MLDOCK_AZURITE_BIN", raising=False)
    with pytest.raises(EmulatorNotInstalledError, match="install_azurite"):
        AzureBlobEmulator().start()


def test_localstack_client_works_against_the_s3_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    import localstack_client.session

    with S3Emulator() as s3:
        s3.create_bucket("from-moto")
        for name, value in s3.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LOCALSTACK_HOST", f"127.0.0.1:{s3.port}")
        client = localstack_client.session.Session().client("s3")
        client.put_object(Bucket="from-moto", Key="k", Body=b"v")
        assert client.get_object(Bucket="from-moto", Key="k")["Body"].read() == b"v"
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["from-moto"]
