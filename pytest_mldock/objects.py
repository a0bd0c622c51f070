"""Write and read whole prefixes of objects, on an emulator or on real storage, for the test helpers.

    store = store_for("s3", emulator)         # an emulator's SDK client, built from emulator.env()
    store.create_bucket("t-main-0a1b2c3d4e-1")
    store.write(parse_uri("s3://t-main-0a1b2c3d4e-1/train"), {"data.csv": b"a,b\\n"})
    store.read(parse_uri("s3://t-main-0a1b2c3d4e-1/train"))       # {"data.csv": b"a,b\\n"}

SDKs are imported inside the functions that use them. Real storage (production stages, `file://`) goes
through `mldock.storage.remote_for`, the same code the container runs, with the ambient credentials.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mldock.emulators.base import Emulator
    from mldock.storage.base import RemoteURI

__all__ = ["ObjectStore", "files_of", "store_for"]


class ObjectStore(Protocol):
    """Bucket administration plus whole-prefix writes and reads."""

    def create_bucket(self, bucket: str) -> None: ...

    def delete_bucket(self, bucket: str) -> None: ...

    def write(self, uri: RemoteURI, files: Mapping[str, bytes]) -> None: ...

    def read(self, uri: RemoteURI) -> dict[str, bytes]:
        """Every object below `uri`, keyed by its path relative to it ({} when there is none)."""
        ...


def store_for(scheme: str, emulator: Emulator | None) -> ObjectStore:
    """The store for `scheme`: the emulator's when given, else real storage through mldock's remotes."""
    if emulator is None:
        return RemoteStore()
    env = dict(emulator.env())
    if scheme == "s3":
        return S3Store(env)
    if scheme == "gs":
        return GCSStore(env)
    if scheme == "az":
        return AzureStore(env)
    raise ValueError(f"no emulated store for scheme {scheme!r}")


def files_of(source: Path | Mapping[str, bytes | str]) -> dict[str, bytes]:
    """The files to upload: a folder (walked, keys relative to it), one file, or a mapping key -> content."""
    if isinstance(source, Mapping):
        return {str(k): (v.encode("utf-8") if isinstance(v, str) else bytes(v)) for k, v in source.items()}
    path = Path(source)
    if path.is_file():
        return {path.name: path.read_bytes()}
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder to seed a channel from")
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _key(uri: RemoteURI, relative: str) -> str:
    base = uri.prefix.strip("/")
    return f"{base}/{relative}" if base else relative


def _relative(uri: RemoteURI, key: str) -> str:
    base = uri.prefix.strip("/")
    return key[len(base) + 1 :] if base else key


def _listing_prefix(uri: RemoteURI) -> str:
    base = uri.prefix.strip("/")
    return f"{base}/" if base else ""


class S3Store:
    """S3 through boto3, pointed at the emulator by its variables."""

    def __init__(self, env: Mapping[str, str]) -> None:
        import boto3

        self._client: Any = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )

    def create_bucket(self, bucket: str) -> None:
        self._client.create_bucket(Bucket=bucket)

    def delete_bucket(self, bucket: str) -> None:
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self._client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        self._client.delete_bucket(Bucket=bucket)

    def write(self, uri: RemoteURI, files: Mapping[str, bytes]) -> None:
        for relative, data in files.items():
            self._client.put_object(Bucket=uri.bucket, Key=_key(uri, relative), Body=data)

    def read(self, uri: RemoteURI) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=_listing_prefix(uri))
        for page in pages:
            for obj in page.get("Contents", []):
                body = self._client.get_object(Bucket=uri.bucket, Key=obj["Key"])["Body"].read()
                found[_relative(uri, obj["Key"])] = body
        return found


class GCSStore:
    """GCS through google-cloud-storage with anonymous credentials, pointed at the emulator."""

    def __init__(self, env: Mapping[str, str]) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        self._client: Any = storage.Client(
            project=env.get("GOOGLE_CLOUD_PROJECT", "mldock-local"),
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]},
        )

    def create_bucket(self, bucket: str) -> None:
        self._client.create_bucket(bucket)

    def delete_bucket(self, bucket: str) -> None:
        self._client.bucket(bucket).delete(force=True)

    def write(self, uri: RemoteURI, files: Mapping[str, bytes]) -> None:
        bucket = self._client.bucket(uri.bucket)
        for relative, data in files.items():
            bucket.blob(_key(uri, relative)).upload_from_string(data)

    def read(self, uri: RemoteURI) -> dict[str, bytes]:
        return {
            _relative(uri, blob.name): blob.download_as_bytes()
            for blob in self._client.list_blobs(uri.bucket, prefix=_listing_prefix(uri))
        }


class AzureStore:
    """Azure Blob through azure-storage-blob, pointed at the emulator by its connection string."""

    def __init__(self, env: Mapping[str, str]) -> None:
        from azure.storage.blob import BlobServiceClient

        self._client: Any = BlobServiceClient.from_connection_string(env["AZURE_STORAGE_CONNECTION_STRING"])

    def create_bucket(self, bucket: str) -> None:
        self._client.create_container(bucket)

    def delete_bucket(self, bucket: str) -> None:
        self._client.delete_container(bucket)

    def write(self, uri: RemoteURI, files: Mapping[str, bytes]) -> None:
        container = self._client.get_container_client(uri.bucket)
        for relative, data in files.items():
            container.upload_blob(_key(uri, relative), data, overwrite=True)

    def read(self, uri: RemoteURI) -> dict[str, bytes]:
        container = self._client.get_container_client(uri.bucket)
        return {
            _relative(uri, blob.name): container.download_blob(blob.name).readall()
            for blob in container.list_blobs(name_starts_with=_listing_prefix(uri))
        }


class RemoteStore:
    """Real storage (or `file://`) through `mldock.storage.remote_for` and the ambient credentials."""

    def create_bucket(self, bucket: str) -> None:
        raise NotImplementedError("buckets on real storage are never created by the test helpers")

    def delete_bucket(self, bucket: str) -> None:
        raise NotImplementedError("buckets on real storage are never deleted by the test helpers")

    def write(self, uri: RemoteURI, files: Mapping[str, bytes]) -> None:
        from mldock.storage import remote_for

        with tempfile.TemporaryDirectory(prefix="mldock-seed-") as folder:
            for relative, data in files.items():
                target = Path(folder, *relative.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            remote_for(str(uri)).upload(Path(folder), str(uri), create_bucket=uri.scheme == "file")

    def read(self, uri: RemoteURI) -> dict[str, bytes]:
        from mldock.errors import RemoteNotFoundError
        from mldock.storage import remote_for

        with tempfile.TemporaryDirectory(prefix="mldock-read-") as folder:
            try:
                remote_for(str(uri)).download(str(uri), Path(folder))
            except RemoteNotFoundError:
                return {}
            root = Path(folder)
            return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
