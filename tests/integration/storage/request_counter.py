"""A request-counting TCP proxy for the storage tests and benchmarks/transfer.py, on loopback.

    with RequestCounter(emulator_port) as proxy:
        remote = remote_for(uri, {**emulator.env(), "AWS_ENDPOINT_URL": proxy.url})
        remote.upload(src, uri)
    proxy.requests          # [Request("PUT", "/bucket/p/f.bin", {"content-md5": ...}), ...]

Bytes pass through unchanged in both directions (the client and the emulator see each other as if connected
directly: keep-alive, `Expect: 100-continue` and chunked bodies included). The client-to-server stream is
parsed on the side: each request's line and headers are recorded, its body (Content-Length or chunked) skipped.
Responses are not parsed. Every loop is bounded by a stop event and socket timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["Request", "RequestCounter"]

_POLL = 0.2
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    """One request as the client sent it: method, target (path and query) and headers (names lower-cased)."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


class _Parser:
    """Incremental HTTP/1.1 request parser over the client's byte stream; complete requests go to `found`."""

    def __init__(self, found: list[Request], lock: threading.Lock) -> None:
        self._buffer = bytearray()
        self._found = found
        self._lock = lock
        self._body_left = 0  # bytes of a Content-Length body still to skip
        self._chunked = False  # inside a chunked body

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._step():
            pass

    def _step(self) -> bool:
        if self._body_left:
            taken = min(self._body_left, len(self._buffer))
            del self._buffer[:taken]
            self._body_left -= taken
            return bool(self._buffer) and not self._body_left
        if self._chunked:
            return self._chunk()
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        method, target, *_ = [*head[0].split(" "), "", ""][:3]
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        with self._lock:
            self._found.append(Request(method, target, headers))
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        else:
            self._body_left = int(headers.get("content-length", "0") or 0)
        return True

    def _chunk(self) -> bool:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return False
        size = int(bytes(self._buffer[:end]).split(b";")[0].strip() or b"0", 16)
        if size:
            if len(self._buffer) < end + 2 + size + 2:
                return False
            del self._buffer[: end + 2 + size + 2]
            return True
        trailer_end = self._buffer.find(b"\r\n\r\n", end)  # last chunk, then trailers up to a blank line
        if self._buffer[end : end + 4] == b"\r\n\r\n":
            trailer_end = end
        if trailer_end < 0:
            return False
        del self._buffer[: trailer_end + 4]
        self._chunked = False
        return True


class RequestCounter:
    """A transparent proxy on 127.0.0.1 to `upstream_port`, recording every request it relays."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(_POLL)
        self.port: int = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._threads: list[threading.Thread] = []

    @property
    def requests(self) -> list[Request]:
        """The requests relayed so far, in the order their headers arrived."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def __enter__(self) -> RequestCounter:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._server.close()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream, timeout=10)
        except OSError:
            client.close()
            return
        done = threading.Event()
        parser = _Parser(self._requests, self._lock)
        back = threading.Thread(target=self._pump, args=(upstream, client, done, None), daemon=True)
        back.start()
        self._pump(client, upstream, done, parser)
        back.join(timeout=5)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def _pump(self, src: socket.socket, dst: socket.socket, done: threading.Event, parser: _Parser | None) -> None:
        src.settimeout(_POLL)
        try:
            while not (done.is_set() or self._stop.is_set()):
                try:
                    data = src.recv(_CHUNK)
                except TimeoutError:
                    continue
                if not data:
                    break
                if parser is not None:
                    parser.feed(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            done.set()
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
