"""A successful response that lacks what every such response carries (its headers cut short in transit) is a
transient transport fault: retried, and when the retries cannot get past it, a StorageError saying the response
was cut short or garbled. Never a KeyError, never an object taken as unverifiable, never an empty listing.

S3 through the real SDK against a loopback server that answers like S3 but can leave a header out; Cloud Storage
and Azure through client objects whose listings and properties lack the size, as the SDKs give them then.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from mldock.errors import StorageError
from mldock.storage import parse_uri
from mldock.storage.azure import AzureRemote
from mldock.storage.classify import IncompleteResponse, classify, required
from mldock.storage.errors_map import map_sdk_error
from mldock.storage.gcs import GCSRemote
from mldock.storage.s3 import S3Remote

MiB = 1024 * 1024
DATA = bytes(range(256)) * 40
GARBLED = "cut short or garbled"


class FakeS3(BaseHTTPRequestHandler):
    """Answers the S3 requests mldock makes for one object `data/a.bin` (DATA) in bucket `bkt`; the headers in
    `omit` are left out of the first `omit_times` responses that would carry them."""

    protocol_version = "HTTP/1.1"
    omit: ClassVar[set[str]] = set()
    omit_times: ClassVar[int] = 1_000_000
    omitted: ClassVar[int] = 0
    stored: ClassVar[dict[str, bytes]] = {}
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, headers: dict[str, str], body: bytes = b"", *, length: int | None = None) -> None:
        with self.lock:
            dropped = self.omit.intersection(headers)
            if dropped and type(self).omitted < self.omit_times:
                type(self).omitted += 1
                headers = {k: v for k, v in headers.items() if k not in dropped}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _xml(self, body: str) -> None:
        data = f'<?xml version="1.0" encoding="UTF-8"?>{body}'.encode()
        self._answer(200, {"Content-Type": "application/xml", "Content-Length": str(len(data))}, data)

    def _query(self) -> tuple[str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        return url.path, parse_qs(url.query, keep_blank_values=True)

    def _object(self) -> dict[str, str]:
        etag = f'"{hashlib.md5(DATA, usedforsecurity=False).hexdigest()}"'
        return {"Content-Length": str(len(DATA)), "ETag": etag, "Content-Type": "application/octet-stream"}

    def do_HEAD(self) -> None:
        path, _ = self._query()
        self._answer(200, self._object() if path.count("/") > 1 else {"Content-Length": "0"})

    def do_GET(self) -> None:
        _, query = self._query()
        if "uploads" in query:
            self._xml("<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>")
        elif "list-type" in query:
            if "IsTruncated" in self.omit:  # the headers were cut: no length, no body, no IsTruncated
                self._answer(200, {"Content-Type": "application/xml"})
                return
            etag = self._object()["ETag"].replace('"', "&quot;")
            self._xml(
                "<ListBucketResult><Name>bkt</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>"
                f"<Contents><Key>data/a.bin</Key><Size>{len(DATA)}</Size><ETag>{etag}</ETag></Contents>"
                "</ListBucketResult>"
            )
        else:
            self._answer(200, self._object(), DATA)

    def do_PUT(self) -> None:
        path, query = self._query()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
        if "partNumber" not in query:
            self.stored[path] = body
        self._answer(200, {"Content-Length": "0", "ETag": etag})

    def do_POST(self) -> None:
        path, query = self._query()
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if "uploads" in query:
            self._xml("<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>")
        else:
            self.stored[path] = b"multipart"
            self._xml('<CompleteMultipartUploadResult><ETag>"e-1"</ETag></CompleteMultipartUploadResult>')

    def do_DELETE(self) -> None:
        self._answer(204, {"Content-Length": "0"})


@pytest.fixture
def s3() -> Iterator[type[FakeS3]]:
    handler = type("Handler", (FakeS3,), {"omit": set(), "omit_times": 1_000_000, "omitted": 0, "stored": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


def _s3_remote(handler: type[FakeS3]) -> S3Remote:
    env = {
        "AWS_ENDPOINT_URL": handler.url,  # type: ignore[attr-defined]
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }
    return S3Remote(environ=env, attempts=2, part_size=1 * MiB)


def _source(tmp_path: Path, size: int) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.bin").write_bytes(b"x" * size)
    return tmp_path / "src"


@pytest.mark.parametrize("size", [100, 1 * MiB + 1], ids=["put-object", "upload-part"])
def test_s3_upload_answered_without_etag_fails_as_a_garbled_response(
    s3: type[FakeS3], tmp_path: Path, size: int
) -> None:
    s3.omit = {"ETag"}
    with pytest.raises(StorageError, match=GARBLED) as caught:
        _s3_remote(s3).upload(_source(tmp_path, size), parse_uri("s3://bkt/out"))
    assert "KeyError" not in str(caught.value)
    assert "ETag" in str(caught.value)
    assert s3.omitted == 2  # each of the two attempts got an answer without it


@pytest.mark.parametrize("size", [100, 1 * MiB + 1], ids=["put-object", "upload-part"])
def test_s3_upload_gets_past_one_answer_without_etag(s3: type[FakeS3], tmp_path: Path, size: int) -> None:
    s3.omit, s3.omit_times = {"ETag"}, 1
    _s3_remote(s3).upload(_source(tmp_path, size), parse_uri("s3://bkt/out"))
    assert s3.omitted == 1
    assert "/bkt/out/f.bin" in s3.stored


def test_s3_get_without_etag_is_not_taken_for_an_object_without_md5(s3: type[FakeS3], tmp_path: Path) -> None:
    s3.omit = {"ETag"}  # the listing gave the MD5 ETag; the GET's answer lost it
    with pytest.raises(StorageError, match=GARBLED):
        _s3_remote(s3).download(parse_uri("s3://bkt/data"), tmp_path / "dest")
    assert not (tmp_path / "dest" / "a.bin").exists()


def test_s3_download_is_identical_without_faults(s3: type[FakeS3], tmp_path: Path) -> None:
    _s3_remote(s3).download(parse_uri("s3://bkt/data"), tmp_path / "dest")
    assert (tmp_path / "dest" / "a.bin").read_bytes() == DATA


def test_s3_head_without_content_length_fails_as_a_garbled_response(s3: type[FakeS3]) -> None:
    s3.omit = {"Content-Length"}
    with pytest.raises(StorageError, match=GARBLED) as caught:
        _s3_remote(s3).list(parse_uri("s3://bkt/data/a.bin"))  # no object below it: a HEAD, lacking its length
    assert "KeyError" not in str(caught.value)


def test_s3_listing_without_is_truncated_is_not_an_empty_listing(s3: type[FakeS3], tmp_path: Path) -> None:
    s3.omit = {"IsTruncated"}  # an answer whose headers were cut: no body, so no IsTruncated either
    with pytest.raises(StorageError, match=GARBLED):
        _s3_remote(s3).download(parse_uri("s3://bkt/data"), tmp_path / "dest")


class _Listing:
    """A Cloud Storage or Azure client whose listing and properties give `size`, as the SDKs do when the
    response lacked it (None)."""

    url = api_endpoint = "http://127.0.0.1:9"

    def __init__(self, size: int | None, listed: bool) -> None:
        self.size, self.listed = size, listed

    def _blobs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="data/a.bin", size=self.size, content_settings=None)] if self.listed else []

    def list_blobs(self, *args: Any, **kwargs: Any) -> list[SimpleNamespace]:
        return self._blobs()

    def bucket(self, name: str) -> Any:
        return SimpleNamespace(get_blob=lambda key, **kwargs: SimpleNamespace(size=self.size))

    def get_container_client(self, name: str) -> Any:
        return self

    def get_blob_client(self, bucket: str, key: str) -> Any:
        props = SimpleNamespace(size=self.size, content_settings=None)
        return SimpleNamespace(get_blob_properties=lambda: props)


@pytest.mark.parametrize("listed", [True, False], ids=["listing", "properties"])
@pytest.mark.parametrize("scheme", ["gs", "az"])
def test_a_size_missing_from_a_listing_or_properties_is_a_garbled_response(scheme: str, listed: bool) -> None:
    cls = GCSRemote if scheme == "gs" else AzureRemote
    uri = parse_uri(f"{scheme}://bkt/data" if listed else f"{scheme}://bkt/data/a.bin")
    assert cls(client=_Listing(len(DATA), listed)).list(uri)[0].size == len(DATA)
    with pytest.raises(StorageError, match=GARBLED) as caught:
        cls(client=_Listing(None, listed)).list(uri)
    assert "size" in str(caught.value).lower() or "Content-Length" in str(caught.value)


def test_incomplete_response_is_transient_and_named_as_garbled() -> None:
    exc = IncompleteResponse("the response lacks the ETag")
    assert classify(exc).transient
    message = str(map_sdk_error(exc, "download", "s3://bkt/k", "http://127.0.0.1:9, MLDOCK_STORAGE_TIMEOUT=60 s"))
    assert GARBLED in message
    assert "lacks the ETag" in message
    assert "[http://127.0.0.1:9" in message


def test_required_gives_the_value_or_names_what_is_missing() -> None:
    assert required(0, "a size") == 0
    with pytest.raises(IncompleteResponse, match="lacks a size"):
        required(None, "a size")
