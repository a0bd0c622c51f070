"""The HTTP endpoint and the health wait, against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mldock.errors import RunnerError
from mldock.runners.serving import HttpEndpoint, wait_until_healthy


class _Handler(BaseHTTPRequestHandler):
    healthy_after = 0  # pings answered 503 before 200

    def do_GET(self) -> None:
        server = self.server
        count = getattr(server, "pings", 0) + 1
        server.pings = count  # type: ignore[attr-defined]
        self.send_response(200 if count > self.healthy_after else 503)
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if body == b"boom":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"it broke")
            return
        answer = json.dumps({"got": body.decode(), "type": self.headers["Content-Type"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    handler = type("H", (_Handler,), {"healthy_after": 2})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _endpoint(httpd: ThreadingHTTPServer) -> HttpEndpoint:
    return HttpEndpoint(f"http://127.0.0.1:{httpd.server_address[1]}/", logs=lambda: "line 1\nline 2")


def test_wait_until_healthy_waits_for_200(server: ThreadingHTTPServer) -> None:
    endpoint = _endpoint(server)
    wait_until_healthy(endpoint, timeout=10, exited=lambda: None, what="test server", interval=0.01)
    assert endpoint.ping() == 200


def test_invoke_sends_json_and_returns_errors_as_responses(server: ThreadingHTTPServer) -> None:
    endpoint = _endpoint(server)
    response = endpoint.invoke({"x": [1, 2]})
    assert response.ok
    assert response.content_type == "application/json"
    assert response.json() == {"got": '{"x": [1, 2]}', "type": "application/json"}
    csv = endpoint.invoke("1,2", content_type="text/csv")
    assert csv.json()["type"] == "text/csv"
    failed = endpoint.invoke(b"boom")
    assert failed.status == 500
    assert failed.text == "it broke"


def test_exited_task_ends_the_wait_with_logs() -> None:
    endpoint = HttpEndpoint("http://127.0.0.1:9", logs=lambda: "Traceback: model missing")
    with pytest.raises(RunnerError, match=r"exited with code 3(.|\n)*model missing"):
        wait_until_healthy(endpoint, timeout=10, exited=lambda: 3, what="the serving process")


def test_timeout_says_what_answered() -> None:
    endpoint = HttpEndpoint("http://127.0.0.1:9", logs=lambda: "")
    with pytest.raises(RunnerError, match="nothing answered"):
        wait_until_healthy(endpoint, timeout=0.2, exited=lambda: None, what="the serving process")


def test_ping_without_server_is_zero_and_invoke_raises() -> None:
    endpoint = HttpEndpoint("http://127.0.0.1:9", logs=lambda: "")
    assert endpoint.ping() == 0
    with pytest.raises(RunnerError, match="/invocations failed"):
        endpoint.invoke(b"{}")
