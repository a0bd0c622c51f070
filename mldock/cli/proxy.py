"""A small HTTP forwarder: `mldock serve --port 8080` answers on a fixed port whatever port the runner chose.

    with forwarding("127.0.0.1", 8080) as forwarder:     # binds at once: a taken port fails early
        forwarder.target = "http://127.0.0.1:41234"        # once the serving task is up
        ...   # GET /ping and POST /invocations on :8080 reach the serving task

Until a target is set every request gets 503. Forwards the method, path, body, Content-Type and Accept;
answers with the task's status, Content-Type and body.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mldock.errors import UserError

__all__ = ["Forwarder", "forwarding"]

_FORWARDED_HEADERS = ("Content-Type", "Accept")


@dataclass
class Forwarder:
    """The listening forwarder: its own base URL and the base URL it forwards to (None: not yet)."""

    url: str
    target: str | None = None


@contextmanager
def forwarding(host: str, port: int) -> Iterator[Forwarder]:
    """Listen on `host:port` and forward every request to the yielded forwarder's `target`."""
    forwarder = Forwarder(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._forward(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._forward(self.rfile.read(length) if length else b"")

        def _forward(self, body: bytes | None) -> None:
            target = forwarder.target
            if target is None:
                self._answer(503, "text/plain", b"the serving task is starting\n")
                return
            headers = {name: value for name in _FORWARDED_HEADERS if (value := self.headers.get(name))}
            request = urllib.request.Request(target + self.path, data=body, headers=headers, method=self.command)
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    status, payload = response.status, response.read()
                    content_type = response.headers.get("Content-Type")
            except urllib.error.HTTPError as exc:
                status, content_type, payload = exc.code, exc.headers.get("Content-Type"), exc.read()
            except OSError as exc:
                status, content_type, payload = 502, "text/plain", f"serving task unreachable: {exc}\n".encode()
            self._answer(status, content_type, payload)

        def _answer(self, status: int, content_type: str | None, payload: bytes) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port") from exc
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="mldock-serve-forwarder", daemon=True)
    thread.start()
    try:
        forwarder.url = f"http://{host}:{server.server_address[1]}"
        yield forwarder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
