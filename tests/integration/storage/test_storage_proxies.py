"""Proxy settings reach every cloud remote: HTTP_PROXY routes its requests through a (real, forwarding) proxy,
NO_PROXY exempts the endpoint. The GCS and Azure remotes read these once per client (mldock.storage.http)."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CLOUDS = ["s3", "gs", "az"]
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "content-length"}


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]


class _Forward(http.server.BaseHTTPRequestHandler):
    """Forwards an absolute-URI request (what a client sends an HTTP proxy) and relays the answer."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        url = urlsplit(self.path)
        self.server.seen.append(f"{self.command} {url.netloc}")
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
        try:
            upstream.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body, headers)
            answer = upstream.getresponse()
            data = answer.read()
            self.send_response_only(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            length = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


@pytest.fixture
def forwarding_proxy() -> Iterator[_ProxyServer]:
    server = _ProxyServer(("127.0.0.1", 0), _Forward)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _proxy_env(monkeypatch: pytest.MonkeyPatch, proxy: _ProxyServer, no_proxy: str | None) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)


def _round_trip(backend: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "nested" / "b.bin").write_bytes(bytes(range(256)) * 40)
    remote = backend.remote()
    uri = backend.uri(bucket, "run")
    remote.upload(src, uri)
    remote.download(uri, tmp_path / "dest")
    assert (tmp_path / "dest" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "dest" / "nested" / "b.bin").read_bytes() == bytes(range(256)) * 40


@pytest.mark.parametrize("storage_backend", CLOUDS, indirect=True)
def test_requests_go_through_the_proxy_the_environment_names(
    storage_backend: Any,
    forwarding_proxy: _ProxyServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bucket = storage_backend.new_bucket()
    _proxy_env(monkeypatch, forwarding_proxy, no_proxy=None)
    _round_trip(storage_backend, bucket, tmp_path)
    methods = {line.split()[0] for line in forwarding_proxy.seen}
    assert "GET" in methods, forwarding_proxy.seen
    assert methods & {"PUT", "POST"}, forwarding_proxy.seen


@pytest.mark.parametrize("storage_backend", CLOUDS, indirect=True)
def test_endpoint_in_no_proxy_is_reached_directly(
    storage_backend: Any,
    forwarding_proxy: _ProxyServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bucket = storage_backend.new_bucket()
    _proxy_env(monkeypatch, forwarding_proxy, no_proxy="127.0.0.1,localhost")
    _round_trip(storage_backend, bucket, tmp_path)
    assert forwarding_proxy.seen == []
