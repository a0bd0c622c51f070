"""The `s3://bucket/prefix` remote: boto3 with s3transfer's TransferManager doing the parallel work.

    S3Remote(environ=s3_emulator.env()).download(parse_uri("s3://data/train"), Path("/opt/ml/input/data/train"))

The client is made from the `environ` mapping given (os.environ when None, read when the client is made):
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) or else
AWS_PROFILE, AWS_REGION or AWS_DEFAULT_REGION, AWS_CA_BUNDLE (else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE) are
passed to boto3 explicitly; what the mapping does not name is left to boto3's own chain (shared config and
credentials files, SSO, container and instance roles). With an explicit mapping, the mapping alone names the
endpoint and the proxies (HTTP(S)_PROXY, NO_PROXY): nothing is taken from os.environ for them. Nothing is
written anywhere.

Retries: botocore's "standard" mode with SDK_ATTEMPTS attempts per request (it backs off with jitter, capped),
the connect/read timeouts MLDOCK_STORAGE_TIMEOUT sets (mldock.storage.retry.Timeouts) per request, and
s3transfer re-reads no part on its own (a broken part stream fails the file, which mldock retries whole:
DEFAULT_ATTEMPTS). See docs/storage.md, "Retries and time limits".
Objects of 8 MiB and more go through s3transfer's TransferManager as 8 MiB parts, several at once; smaller
ones are one streamed GET/PUT each (the manager's thread hand-offs would cost more than they save), many files
at once. Bodies are sent without `Expect: 100-continue` (a connection closed inside botocore's reading of
the interim response would loop forever). An upload first aborts the incomplete multipart uploads of the keys
it writes in parts (what a killed upload leaves behind).

Verification uses what each request and response carries anyway, one request per small object each way: a
small PUT sends the file's Content-MD5 (S3 refuses a body that does not match it, with the MD5 it computes for
the ETag anyway); a small GET is hashed as it streams and checked against the MD5 ETag of that response. The
client asks for flexible checksums only where an operation requires one (`request_checksum_calculation` and
`response_checksum_validation` "when_required", not botocore's "when_supported" default, which adds a CRC32
to every PUT and `x-amz-checksum-mode` to every GET): explicitly, multipart uploads send a CRC32 per part, and
a GET asks for the stored checksum only when the listed ETag is not an MD5 (a multipart or KMS-encrypted object).
Large downloads (ranged GETs) are checked against a single-part object's MD5 ETag before the rename.
A successful response lacking what every such response carries (REQUIRED_FIELDS: a PUT's or part's ETag, a
GET's ETag and Content-Length, a listing's IsTruncated) had its headers or body cut short in transit: it is
refused as an IncompleteResponse (retried) as soon as botocore has parsed it, before mldock or s3transfer reads
it, so it is never taken for an object without an MD5, a last page or an empty listing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mldock.errors import StorageError
from mldock.storage.blob import DEFAULT_CONCURRENCY, BlobRemote, ContentMismatch, Listed, Progress, md5_of_fd
from mldock.storage.classify import IncompleteResponse, error_code_of, is_not_found, required, status_code_of
from mldock.storage.http import ca_bundle, proxies_for
from mldock.storage.retry import DEFAULT_ATTEMPTS, SDK_ATTEMPTS, Timeouts, timeouts_from

if TYPE_CHECKING:
    from collections.abc import Iterator

    from s3transfer.manager import TransferManager

__all__ = ["S3Remote", "make_client"]

MiB = 1024 * 1024
PART_SIZE = 8 * MiB
PARTS_IN_FLIGHT = 10
"""Parts of large objects moving at once, over all of them: boto3's and the AWS CLI's default. More gained nothing
on moto and cost it more CPU per object (16: 465-570 ms per 64 MiB upload, 8: 422-442, `aws s3 sync`: 442-480)."""
_STREAM_CHUNK = 1 * MiB
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "PutObject": ("ETag",),
    "CreateMultipartUpload": ("UploadId",),
    "UploadPart": ("ETag",),
    "CompleteMultipartUpload": ("ETag",),
    "GetObject": ("ETag", "ContentLength"),
    "HeadObject": ("ETag", "ContentLength"),
    "ListObjectsV2": ("IsTruncated",),
    "ListMultipartUploads": ("IsTruncated",),
}
"""What every successful response of these operations carries (S3 and its emulators): without it, the response
was cut short in transit (a missing ETag read as "no MD5", a missing IsTruncated as "last page")."""


def make_client(
    environ: Mapping[str, str] | None = None, *, max_pool_connections: int = 10, timeouts: Timeouts | None = None
) -> Any:
    """A boto3 S3 client built from `environ` (os.environ when None), retries and timeouts set explicitly
    (`timeouts`: those MLDOCK_STORAGE_TIMEOUT in `environ` sets, when not given)."""
    import boto3  # the SDK of the s3:// scheme, imported only when that scheme is used
    import botocore.session
    from botocore.config import Config

    env = os.environ if environ is None else environ
    timeouts = timeouts or timeouts_from(env)
    session_options: dict[str, Any] = {}
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        session_options["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        session_options["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        session_options["aws_session_token"] = env.get("AWS_SESSION_TOKEN") or None
    elif env.get("AWS_PROFILE"):
        session_options["profile_name"] = env["AWS_PROFILE"]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    if region:
        session_options["region_name"] = region
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    config_options: dict[str, Any] = {
        "max_pool_connections": max_pool_connections,
        "retries": {"mode": "standard", "total_max_attempts": SDK_ATTEMPTS},
        "connect_timeout": timeouts.connect,
        "read_timeout": timeouts.read,
    }
    if "request_checksum_calculation" in Config.OPTION_DEFAULTS:  # botocore >= 1.36 (earlier: when required)
        config_options["request_checksum_calculation"] = "when_required"
        config_options["response_checksum_validation"] = "when_required"
    if environ is not None:  # the mapping alone decides: botocore would read os.environ for these
        config_options["proxies"] = proxies_for(endpoint or f"https://s3.{region or 'us-east-1'}.amazonaws.com", env)
        if endpoint is None:
            config_options["ignore_configured_endpoint_urls"] = True
    client_options: dict[str, Any] = {"endpoint_url": endpoint, "config": Config(**config_options)}
    bundle = env.get("AWS_CA_BUNDLE") or ca_bundle(env)
    if bundle:
        client_options["verify"] = bundle
    core = botocore.session.Session()
    core.register_component("data_loader", _data_loader(core.get_config_variable("data_path")))
    client = boto3.session.Session(botocore_session=core, **session_options).client("s3", **client_options)
    client.meta.events.register("before-send.s3", _without_expect_continue)
    client.meta.events.register("after-call.s3", _check_required_fields)
    return client


@functools.cache
def _data_loader(data_path: str | None) -> Any:
    """botocore's reader of its JSON models (the S3 API, endpoint rules, partitions), one per data path and
    shared by every client mldock makes, as botocore itself makes it for a session: a new session reads and parses
    them again. Every S3 client after a process's first costs about 8 ms of CPU instead of 70-160 (the pytest
    plugin makes one per test with S3 channels; the aws template's suite: 0.05-0.1 s less CPU)."""
    import botocore.loaders

    return botocore.loaders.create_loader(data_path)


def _without_expect_continue(request: Any, **kwargs: Any) -> None:
    """Send PUT bodies without `Expect: 100-continue`: botocore reads the interim response's headers until a
    blank line and never stops at end of stream, so a connection closed there would spin a thread forever."""
    if "Expect" in request.headers:
        del request.headers["Expect"]


def _check_required_fields(http_response: Any, parsed: Mapping[str, Any], model: Any, **kwargs: Any) -> None:
    """Refuse a successful response lacking one of its operation's REQUIRED_FIELDS (IncompleteResponse, retried);
    error responses are left to botocore."""
    if not 200 <= http_response.status_code < 300:
        return
    missing = [name for name in REQUIRED_FIELDS.get(model.name, ()) if name not in parsed]
    if missing:
        raise IncompleteResponse(
            f"S3 {model.name} answered HTTP {http_response.status_code} without {', '.join(missing)} "
            "(cut short in transit)"
        )


class S3Remote(BlobRemote):
    """Remote for `s3://` URIs, its client made lazily from `environ` (os.environ when None); `client`
    overrides it (tests)."""

    scheme = "s3"

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        client: Any = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        attempts: int = DEFAULT_ATTEMPTS,
        part_size: int = PART_SIZE,
    ) -> None:
        super().__init__(
            environ=environ, max_concurrency=max_concurrency, attempts=attempts, from_settings=client is None
        )
        self.part_size = part_size
        self._client = client
        self._manager: TransferManager | None = None
        self._lock = threading.Lock()

    # -- SDK objects ---------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = make_client(
                    self.environ, max_pool_connections=self.max_concurrency * 2, timeouts=self.timeouts
                )
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
                    max_concurrency=min(self.max_concurrency, PARTS_IN_FLIGHT),
                    use_threads=True,
                    num_download_attempts=1,  # a broken part stream fails the file: mldock retries it whole
                    preferred_transfer_client="classic",
                )
                self._manager = create_transfer_manager(client, config)
            return self._manager

    # -- primitives ----------------------------------------------------------------------------------------

    def _endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    def _iter_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, int, str | None]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = required(obj.get("Key"), "an object's Key in an S3 listing")
                size = required(obj.get("Size"), f"the Size of {key} in an S3 listing")
                yield key, int(size), _md5_of_etag(obj.get("ETag", ""))

    def _stat_object(self, bucket: str, key: str) -> tuple[int, str | None] | None:
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        size = required(head.get("ContentLength"), f"the Content-Length of s3://{bucket}/{key}")
        return int(size), _md5_of_etag(required(head.get("ETag"), f"the ETag of s3://{bucket}/{key}"))

    def _download_object(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        if item.size < self.part_size:  # one GET, streamed; s3transfer's thread hand-offs cost more than it
            self._get_small(bucket, item, handle, progress)
            return
        from s3transfer.subscribers import BaseSubscriber

        class Subscriber(BaseSubscriber):  # type: ignore[misc]
            def on_queued(self, future: Any, **kwargs: Any) -> None:
                future.meta.provide_transfer_size(item.size)  # spares a HEAD request per object

            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
                progress(bytes_transferred)

        self.manager.download(bucket, item.key, handle, subscribers=[Subscriber()]).result()

    def _get_small(self, bucket: str, item: Listed, handle: IO[bytes], progress: Progress) -> None:
        """One GET, hashed as it streams and checked against that response's MD5 ETag; without one (multipart
        or KMS-encrypted), botocore checks the stored full-object checksum when the object has one."""
        options = {} if item.md5 is not None else {"ChecksumMode": "ENABLED"}
        response = self.client.get_object(Bucket=bucket, Key=item.key, **options)
        body = response["Body"]
        etag = required(response.get("ETag"), f"the ETag of s3://{bucket}/{item.key}")
        expected = None if _encrypted_with_key(response) else _md5_of_etag(etag)
        digest = hashlib.md5(usedforsecurity=False) if expected else None
        try:
            for chunk in body.iter_chunks(_STREAM_CHUNK):
                handle.write(chunk)
                if digest is not None:
                    digest.update(chunk)
                progress(len(chunk))
        finally:
            body.close()
        if digest is not None and digest.hexdigest() != expected:
            raise ContentMismatch(
                f"s3://{bucket}/{item.key}: MD5 {digest.hexdigest()} does not match the object's ETag {expected}"
            )

    def _verify(self, item: Listed, handle: IO[bytes], uri: str) -> None:
        super()._verify(item, handle, uri)
        if item.md5 is not None and item.size >= self.part_size:  # small ones were checked as they streamed
            digest = md5_of_fd(handle.fileno(), item.size)
            if digest != item.md5:
                raise ContentMismatch(f"{uri}: MD5 {digest} does not match the object's ETag {item.md5}")

    def _upload_file(self, path: Path, bucket: str, key: str, size: int, progress: Progress) -> None:
        if size < self.part_size:  # one PUT with the Content-MD5 the server checks
            with open(path, "rb") as handle:
                md5 = bytes.fromhex(md5_of_fd(handle.fileno(), size))
                self.client.put_object(Bucket=bucket, Key=key, Body=handle, ContentMD5=base64.b64encode(md5).decode())
            progress(size)
            return
        from s3transfer.subscribers import BaseSubscriber

        class Subscriber(BaseSubscriber):  # type: ignore[misc]
            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
                progress(bytes_transferred)

        self.manager.upload(
            str(path), bucket, key, extra_args={"ChecksumAlgorithm": "CRC32"}, subscribers=[Subscriber()]
        ).result()

    def _before_upload(self, bucket: str, objects: list[tuple[str, int]]) -> None:
        """Abort the incomplete multipart uploads of the keys this upload writes in parts (a killed upload
        leaves them, and S3 bills their parts until they are aborted). Only those keys are touched: they are
        about to be overwritten whole, so nothing another writer could still complete is lost."""
        keys = {key for key, size in objects if size >= self.part_size}
        if not keys:
            return
        first, last = min(keys), max(keys)
        shared = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
        prefix = first[:shared]  # the keys' common prefix (characters, not folders): one listing covers them
        stale: list[tuple[str, str]] = []
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
            stale.extend(
                (u["Key"], required(u.get("UploadId"), f"the UploadId of {u['Key']} in a multipart listing"))
                for u in page.get("Uploads", [])
                if u.get("Key") in keys
            )
        for key, upload_id in stale:
            try:
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception as exc:
                if not is_not_found(exc) and error_code_of(exc) != "NoSuchUpload":  # finished meanwhile
                    raise

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception as exc:
            if is_not_found(exc):
                return False
            if status_code_of(exc) == 403:
                return True  # may not HEAD it but may write to it: let the upload say
            raise
        return True

    def _create_bucket(self, bucket: str) -> None:
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            self.client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        else:
            self.client.create_bucket(Bucket=bucket)

    def _list_buckets(self) -> Iterator[str]:
        for page in self.client.get_paginator("list_buckets").paginate():
            for found in page.get("Buckets", []):
                yield required(found.get("Name"), "a bucket's Name in the bucket listing")

    def _delete_bucket(self, bucket: str) -> None:
        client = self.client
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [
                    {"Key": required(obj.get("Key"), "an object's Key in an S3 listing")}
                    for obj in page.get("Contents", [])
                ]
                for start in range(0, len(keys), _DELETE_BATCH):
                    batch = keys[start : start + _DELETE_BATCH]
                    errors = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get(
                        "Errors", []
                    )
                    if errors:
                        first = errors[0]
                        raise StorageError(
                            f"s3://{bucket}: {len(errors)} objects could not be deleted, the first "
                            f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message', '')}".rstrip()
                        )
            client.delete_bucket(Bucket=bucket)
        except StorageError:
            raise
        except Exception as exc:
            if is_not_found(exc):
                return
            raise


def _encrypted_with_key(response: Mapping[str, Any]) -> bool:
    """True when the object is encrypted with a KMS or customer key: its ETag is then not its MD5."""
    return str(response.get("ServerSideEncryption", "")).startswith("aws:kms") or bool(
        response.get("SSECustomerAlgorithm")
    )


def _md5_of_etag(etag: str) -> str | None:
    """The MD5 hex an ETag stands for, or None (multipart ETags `...-N` and SSE-KMS ones are not MD5s)."""
    value = etag.strip('"').lower()
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return None
