"""Remotes built from explicit settings: two emulators of one kind reached from one process, each through
`remote_for(uri, emulator.env())`, with os.environ holding none of their variables; and bucket administration
(create, exists, delete with everything in it) on every scheme, checked through the official SDKs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mldock.emulators import AzureBlobEmulator, GCSEmulator, S3Emulator
from mldock.storage import RemoteURI, parse_uri, remote_for

pytestmark = pytest.mark.integration

EMULATORS: dict[str, Callable[[], Any]] = {"s3": S3Emulator, "gs": GCSEmulator, "az": AzureBlobEmulator}
SDK_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_URL",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
)


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in SDK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    before = _environ()
    yield
    assert _environ() == before, "a remote wrote os.environ"


def _environ() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "PYTEST_CURRENT_TEST"}


def _bucket() -> str:
    return f"mldock-{uuid.uuid4().hex[:16]}"


def _sdk_keys(scheme: str, emulator: Any, bucket: str) -> list[str] | None:
    """The keys in `bucket` as the official SDK sees them, or None when the bucket does not exist."""
    if scheme == "s3":
        client = emulator.client()
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
        except client.exceptions.NoSuchBucket:
            return None
    if scheme == "gs":
        from google.api_core.exceptions import NotFound
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        env = emulator.env()
        client = storage.Client(
            project=env["GOOGLE_CLOUD_PROJECT"],
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]},
        )
        try:
            return sorted(blob.name for blob in client.list_blobs(bucket))
        except NotFound:
            return None
    from azure.core.exceptions import ResourceNotFoundError

    container = emulator.client().get_container_client(bucket)
    try:
        return sorted(blob.name for blob in container.list_blobs())
    except ResourceNotFoundError:
        return None


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"], ids=["s3-two-motos", "gs-two-fake-gcs", "az-two-azurites"])
def test_two_emulators_of_one_kind_in_one_process(scheme: str, clean_environ: None, tmp_path: Path) -> None:
    with EMULATORS[scheme]() as first, EMULATORS[scheme]() as second:
        bucket = _bucket()
        uri = parse_uri(f"{scheme}://{bucket}/run")
        for number, emulator in enumerate((first, second)):
            src = tmp_path / f"src-{number}"
            src.mkdir()
            (src / "which.txt").write_text(f"emulator {number}")
            remote_for(uri, emulator.env()).upload(src, uri, create_bucket=True)
        for number, emulator in enumerate((first, second)):
            dest = tmp_path / f"dest-{number}"
            remote_for(uri, emulator.env()).download(uri, dest)
            assert (dest / "which.txt").read_text() == f"emulator {number}"
            assert _sdk_keys(scheme, emulator, bucket) == ["run/which.txt"]


@pytest.fixture(params=["s3", "gs", "az"], ids=["s3", "gs", "az"])
def cloud(request: pytest.FixtureRequest) -> tuple[str, Any]:
    scheme: str = request.param
    fixture = {"s3": "_s3_emu", "gs": "_gcs_emu", "az": "_azure_emu"}[scheme]
    return scheme, request.getfixturevalue(fixture)


def test_bucket_lifecycle_through_the_remote(cloud: tuple[str, Any], clean_environ: None, tmp_path: Path) -> None:
    scheme, emulator = cloud
    name = _bucket()
    root = RemoteURI(scheme, name, "")
    remote = remote_for(root, emulator.env())
    assert remote.bucket_exists(root) is False
    remote.create_bucket(root)
    remote.create_bucket(root)  # idempotent
    assert remote.bucket_exists(root) is True
    assert _sdk_keys(scheme, emulator, name) == []
    (tmp_path / "f.txt").write_text("x")
    remote.upload(tmp_path, root.join("p"))
    assert _sdk_keys(scheme, emulator, name) == ["p/f.txt"]
    remote.delete_bucket(root)
    assert remote.bucket_exists(root) is False
    assert _sdk_keys(scheme, emulator, name) is None
    remote.delete_bucket(root)  # missing: no error


def test_delete_of_a_bucket_with_more_than_a_thousand_objects(
    cloud: tuple[str, Any], clean_environ: None, tmp_path: Path
) -> None:
    scheme, emulator = cloud
    root = RemoteURI(scheme, _bucket(), "")
    remote = remote_for(root, emulator.env())
    for index in range(1005):
        (tmp_path / f"{index:04d}").write_bytes(b"")
    remote.upload(tmp_path, root.join("many"), create_bucket=True)
    assert len(_sdk_keys(scheme, emulator, root.bucket) or []) == 1005
    remote.delete_bucket(root)
    assert _sdk_keys(scheme, emulator, root.bucket) is None


def test_a_prefix_is_never_taken_for_its_bucket(cloud: tuple[str, Any], clean_environ: None) -> None:
    from mldock.errors import StorageError

    scheme, emulator = cloud
    remote = remote_for(parse_uri(f"{scheme}://bkt"), emulator.env())
    with pytest.raises(StorageError, match="names a prefix, not a bucket"):
        remote.delete_bucket(parse_uri(f"{scheme}://bkt/some/prefix"))


def test_file_buckets_are_folders(tmp_path: Path) -> None:
    root = parse_uri(f"file://{tmp_path}/bucket")
    remote = remote_for(root)
    assert remote.bucket_exists(root) is False
    remote.create_bucket(root)
    remote.create_bucket(root)
    assert remote.bucket_exists(root) is True
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_text("x")
    remote.upload(tmp_path / "src", root.join("p"))
    assert (tmp_path / "bucket" / "p" / "f.txt").read_text() == "x"
    assert root.join("p").bucket_root() == root
    remote.delete_bucket(root)
    assert not (tmp_path / "bucket").exists()
    remote.delete_bucket(root)
