"""Content verification against the real emulators: what each cloud's download checks, and that it refuses.

Azure: a blob with a Content-MD5 is checked as a whole (large ranges), one without falls back to 4 MiB ranges
each with a transactional MD5; mldock's own uploads always leave a Content-MD5. GCS: objects arrive as stored
(raw), checked against the stored CRC32C.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest

from mldock.errors import StorageError
from mldock.storage import parse_uri

MiB = 1024 * 1024


@pytest.fixture
def az(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    emulator = request.getfixturevalue("_azure_emu")
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    return emulator


@pytest.fixture
def gcs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    emulator = request.getfixturevalue("_gcs_emu")
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    return emulator


def _remote(uri: str):  # type: ignore[no-untyped-def]
    from mldock.storage.registry import remote_for

    return remote_for(uri)


def _bucket(emulator, name: str) -> str:  # type: ignore[no-untyped-def]
    emulator.create_bucket(name)
    return name


@pytest.mark.parametrize("size", [4096, 9 * MiB + 3], ids=["single-put", "block-list"])
def test_azure_uploads_leave_a_content_md5(az, tmp_path: Path, size: int) -> None:
    bucket = _bucket(az, f"md5-up-{size}")
    (tmp_path / "src").mkdir()
    data = os.urandom(size)
    (tmp_path / "src" / "f.bin").write_bytes(data)
    _remote(f"az://{bucket}/p").upload(tmp_path / "src", parse_uri(f"az://{bucket}/p"))
    props = az.client().get_blob_client(bucket, "p/f.bin").get_blob_properties()
    assert bytes(props.content_settings.content_md5) == hashlib.md5(data).digest()


def test_azure_blob_not_matching_its_content_md5_is_refused(az, tmp_path: Path) -> None:
    from azure.storage.blob import ContentSettings

    bucket = _bucket(az, "md5-wrong")
    data = os.urandom(10 * MiB)
    wrong = hashlib.md5(b"something else").digest()
    blob = az.client().get_blob_client(bucket, "p/f.bin")
    blob.upload_blob(data, overwrite=True)
    blob.set_http_headers(ContentSettings(content_md5=bytearray(wrong)))  # the stored MD5 no longer matches
    remote = _remote(f"az://{bucket}/p")
    remote.attempts = 1
    with pytest.raises(StorageError, match="MD5"):
        remote.download(parse_uri(f"az://{bucket}/p"), tmp_path / "dest")
    assert not list((tmp_path / "dest").rglob("*.bin"))  # nothing renamed into place


def test_azure_blob_without_content_md5_still_downloads_checked_per_range(az, tmp_path: Path) -> None:
    bucket = _bucket(az, "md5-none")
    data = os.urandom(9 * MiB + 5)
    # a block list (a client with a 4 MiB single-put limit) gets no Content-MD5 from the service
    from azure.storage.blob import BlobServiceClient

    blocks = BlobServiceClient.from_connection_string(az.connection_string(), max_single_put_size=4 * MiB)
    blocks.get_blob_client(bucket, "p/f.bin").upload_blob(data, overwrite=True, max_concurrency=2)
    props = az.client().get_blob_client(bucket, "p/f.bin").get_blob_properties()
    if props.content_settings.content_md5:
        pytest.fail("precondition: the blob was expected to have no Content-MD5")
    _remote(f"az://{bucket}/p").download(parse_uri(f"az://{bucket}/p"), tmp_path / "dest")
    assert (tmp_path / "dest" / "f.bin").read_bytes() == data


def test_gcs_gzip_encoded_object_arrives_as_stored(gcs, tmp_path: Path) -> None:
    from google.cloud import storage

    bucket = _bucket(gcs, "gzip-stored")
    stored = gzip.compress(b"line\n" * 10_000)
    blob = storage.Client().bucket(bucket).blob("p/log.txt.gz")
    blob.content_encoding = "gzip"
    blob.upload_from_string(stored, content_type="text/plain")
    _remote(f"gs://{bucket}/p").download(parse_uri(f"gs://{bucket}/p"), tmp_path / "dest")
    assert (tmp_path / "dest" / "log.txt.gz").read_bytes() == stored
