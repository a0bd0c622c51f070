"""Real emulators for the storage integration tests, one of each per session (per xdist worker), started lazily.

(This conftest sits in tests/integration/storage, not one level up: there, pytest would put tests/integration on
sys.path and its `emulators/` test folder would shadow the `emulators` package.)

The fixtures are private (`_s3_emu`, ...) so they never clash with pytest_mldock's public `s3_emulator`,
`gcs_emulator`, `azure_blob_emulator`. `storage_backend` is parametrized over the four schemes with explicit
ids; each test gets the scheme's SDK variables in os.environ (monkeypatched) and helpers to make buckets and
to put raw objects (keys the remotes would never write, folder markers, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mldock.emulators import AzureBlobEmulator, GCSEmulator, S3Emulator
from mldock.storage import Remote, RemoteURI, parse_uri

SCHEMES = ["s3", "gs", "az", "file"]


@pytest.fixture(scope="session")
def _s3_emu() -> Iterator[S3Emulator]:
    with S3Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _gcs_emu() -> Iterator[GCSEmulator]:
    with GCSEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def _azure_emu() -> Iterator[AzureBlobEmulator]:
    with AzureBlobEmulator() as emulator:
        yield emulator


_EMULATOR_FIXTURE = {"s3": "_s3_emu", "gs": "_gcs_emu", "az": "_azure_emu"}


@dataclass
class StorageBackend:
    """One scheme under test: its remote, its settings, and raw helpers that bypass the remote."""

    scheme: str
    env: dict[str, str]
    emulator: Any = None
    root: Path | None = None  # file:// only: the folder holding the "buckets"
    buckets: list[str] = field(default_factory=list)

    def remote(self) -> Remote:
        from mldock.storage.registry import remote_for

        return remote_for(self.uri("probe"))

    def bucket_name(self) -> str:
        return f"mldock-{uuid.uuid4().hex[:16]}"

    def new_bucket(self) -> str:
        name = self.bucket_name()
        if self.scheme == "file":
            assert self.root is not None
            (self.root / name).mkdir()
        else:
            self.emulator.create_bucket(name)
        self.buckets.append(name)
        return name

    def uri(self, bucket: str, prefix: str = "") -> RemoteURI:
        if self.scheme == "file":
            # LocalRemote treats the target's parent folder as the bucket: inside an existing bucket
            # folder, make the prefix's parents so that a deep prefix behaves as in a cloud bucket.
            assert self.root is not None
            target = self.root / bucket / prefix
            if (self.root / bucket).is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
            return parse_uri(f"file://{target}".rstrip("/"))
        return parse_uri(f"{self.scheme}://{bucket}/{prefix}".rstrip("/"))

    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write one object straight through the SDK (or the filesystem for file://)."""
        if self.scheme == "s3":
            self.emulator.client().put_object(Bucket=bucket, Key=key, Body=data)
        elif self.scheme == "gs":
            from google.cloud import storage

            storage.Client().bucket(bucket).blob(key).upload_from_string(data)
        elif self.scheme == "az":
            self.emulator.client().get_blob_client(bucket, key).upload_blob(data, overwrite=True)
        else:
            assert self.root is not None
            target = self.root / bucket / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


@pytest.fixture(params=SCHEMES, ids=SCHEMES)
def storage_backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> StorageBackend:
    scheme: str = request.param
    for variable in ("AWS_PROFILE", "AWS_CONFIG_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(variable, raising=False)
    if scheme == "file":
        backend = StorageBackend(scheme, {}, root=tmp_path_factory.mktemp("file-buckets"))
    else:
        emulator = request.getfixturevalue(_EMULATOR_FIXTURE[scheme])
        backend = StorageBackend(scheme, dict(emulator.env()), emulator=emulator)
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    return backend  # buckets are unique and the emulators in-memory: nothing to delete one object at a time
