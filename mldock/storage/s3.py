"""The `s3://bucket/prefix` remote: boto3 with s3transfer's TransferManager doing the parallel work.

    S3Remote().download("s3://data/train", Path("/opt/ml/input/data/train"))

Endpoint, credentials and region come only from boto3's own lookup (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
profiles, instance roles, AWS_REGION/AWS_DEFAULT_REGION), so the same code talks to moto or to AWS.
Objects of 8 MiB and more go through s3transfer's TransferManager as 8 MiB parts, several at once; smaller
ones are one streamed GET/PUT each (the manager's thread hand-offs would cost more than they save), many files
at once. boto3 checks CRC32 on uploads and on whole-object downloads; a single-part object is also checked
against its MD5 ETag before the rename.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mldock.storage.blob import DEFAULT_CONCURRENCY, BlobRemote, ContentMismatch, Listed, Progress, md5_of_fd
from mldock.storage.errors_map import is_not_found
from mldock.storage.retry import DEFAULT_ATTEMPTS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from s3transfer.manager import TransferManager

__all__ = ["S3Remote"]

MiB = 1024 * 1024
PART_SIZE = 8 * MiB
_STREAM_CHUNK = 1 * MiB


class S3Remote(BlobRemote):
    """Remote for `s3://` URIs. `client` overrides the boto3 client (tests); otherwise one is made lazily."""

    scheme = "s3"

    def __init__(
        self,
        *,
        client: Any = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        attempts: int = DEFAULT_ATTEMPTS,
        part_size: int = PART_SIZE,
    ) -> None:
        super().__init__(max_concurrency=max_concurrency, attempts=attempts)
        self.part_size = part_size
        self._client = client
        self._manager: TransferManager | None = None
        self._lock = threading.Lock()

    # -- SDK objects ---------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(
                    max_pool_connections=self.max_concurrency * 2,
                    retries={"mode": "standard", "max_attempts": 5},
                )
                self._client = boto3.session.Session().client("s3", config=config)
            return self._client

    @property
    def manager(self) -> TransferManager:
        client = self.client
        with self._lock:
            if self._manager is None:
                from boto3.s3.transfer import TransferConfig, create_transfer_manager

                config = TransferConfig(
                    multipart_threshold=self.part_size,
                    multipart_chunksize=self.part_size,
                    max_concurrency=self.max_concurrency,
                    use_threads=True,
                    preferred_transfer_client="classic",
                )
                self._manager = create_transfer_manager(client, config)
            return self._manager

    # -- primitives ----------------------------------------------------------------------------------------

    def _iter_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], int(obj["Size"]), _md5_of_etag(obj.get("ETag", ""))

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return int(head["ContentLength"]), _md5_of_etag(head.get("ETag", ""))

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        if item.size < self.part_size:  # one GET, streamed; s3transfer's thread hand-offs cost more than it
            body = self.client.get_object(Bucket=bucket, Key=item.key)["Body"]
            try:
                for chunk in body.iter_chunks(_STREAM_CHUNK):
                    handle.write(chunk)
                    progress(len(chunk))
            finally:
                body.close()
            return
        from s3transfer.subscribers import BaseSubscriber

        class Subscriber(BaseSubscriber):  # type: ignore[misc]
            def on_queued(self, future: Any, **kwargs: Any) -> None:
                future.meta.provide_transfer_size(item.size)  # spares a HEAD request per object

            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
                progress(bytes_transferred)

        self.manager.download(bucket, item.key, handle, subscribers=[Subscriber()]).result()

    def _verify(self, item: Listed, handle: IO[bytes], uri: str) -> None:
        super()._verify(item, handle, uri)
        if item.md5 is not None:
            digest = md5_of_fd(handle.fileno(), item.size)
            if digest != item.md5:
                raise ContentMismatch(f"{uri}: MD5 {digest} does not match the object's ETag {item.md5}")

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        if size < self.part_size:  # one PUT (boto3 adds the CRC32 the server checks)
            with open(path, "rb") as handle:
                self.client.put_object(Bucket=bucket, Key=key, Body=handle)
            progress(size)
            return
        from s3transfer.subscribers import BaseSubscriber

        class Subscriber(BaseSubscriber):  # type: ignore[misc]
            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
                progress(bytes_transferred)

        self.manager.upload(str(path), bucket, key, subscribers=[Subscriber()]).result()

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception as exc:
            if is_not_found(exc):
                return False
            if getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
                return True  # may not HEAD it but may write to it: let the upload say
            raise
        return True

    def _create_bucket(self, bucket: str) -> None:
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            self.client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        else:
            self.client.create_bucket(Bucket=bucket)


def _md5_of_etag(etag: str) -> str | None:
    """The MD5 hex an ETag stands for, or None (multipart ETags `...-N` and SSE-KMS ones are not MD5s)."""
    value = etag.strip('"').lower()
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return None
