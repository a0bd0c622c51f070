"""Misbehaving endpoints for the storage fault tests, all on loopback: a fault-injecting TCP proxy, a black hole
(accepts connections, never answers) and a closed port.

    with FaultProxy(upstream_port, Faults(reset=0.02, stall=0.02, truncate=0.02, http_503=0.02)) as proxy:
        remote = remote_for(uri, s3_env(proxy.url))

Faults are drawn once per client connection (the SDKs keep connections alive, so one connection carries many
requests): `reset` sends a TCP RST after a random number of response bytes, `stall` stops relaying after a random
number of response bytes for `stall_seconds` and then closes, `truncate` closes cleanly (FIN) after a random
number of response bytes (often inside the headers), `http_503` answers the first request itself with 503 and
closes. Every loop is bounded by a stop event and socket timeouts; `counts` says what was injected.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from types import TracebackType

__all__ = ["BlackHole", "FaultProxy", "Faults", "closed_port"]

_POLL = 0.2
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Faults:
    """Per-connection probability of each fault (their sum at most 1)."""

    reset: float = 0.0
    stall: float = 0.0
    truncate: float = 0.0
    http_503: float = 0.0
    stall_seconds: float = 4.0

    def draw(self, rng: random.Random) -> str:
        roll = rng.random()
        for name in ("reset", "stall", "truncate", "http_503"):
            roll -= getattr(self, name)
            if roll < 0:
                return name
        return "none"


class _Listener:
    """A loopback listening socket with a bounded accept loop on a daemon thread."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(_POLL)
        self.port: int = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._held: list[socket.socket] = []

    def __enter__(self) -> _Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()
        for conn in self._held:
            _close(conn)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError


class BlackHole(_Listener):
    """Accepts every connection and never sends a byte (the connections close when the context ends)."""

    def __enter__(self) -> BlackHole:
        super().__enter__()
        return self

    def handle(self, conn: socket.socket) -> None:
        pass  # held open, never read, never answered


class FaultProxy(_Listener):
    """A TCP proxy to 127.0.0.1:`upstream_port` injecting `faults` at random (seeded) per connection."""

    def __init__(self, upstream_port: int, faults: Faults, *, seed: int = 0) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.faults = faults
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __enter__(self) -> FaultProxy:
        super().__enter__()
        return self

    def handle(self, conn: socket.socket) -> None:
        with self._lock:
            fault = self.faults.draw(self._rng)
            cut = self._rng.choice([self._rng.randint(1, 2048), self._rng.randint(1, 4 * 1024 * 1024)])
            self.counts[fault] += 1
        threading.Thread(target=self._serve, args=(conn, fault, cut), daemon=True).start()

    def _serve(self, client: socket.socket, fault: str, cut: int) -> None:
        client.settimeout(_POLL)
        if fault == "http_503":
            _read_headers(client, self._stop)
            _send(client, b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            _close(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(_POLL)
        done = threading.Event()
        up = threading.Thread(target=self._pump, args=(client, upstream, done, None, "none"), daemon=True)
        up.start()
        self._pump(upstream, client, done, cut if fault != "none" else None, fault)
        done.set()
        up.join(timeout=5)
        _close(upstream)

    def _pump(self, src: socket.socket, dst: socket.socket, done: threading.Event, cut: int | None, fault: str) -> None:
        """Relay src -> dst until either side closes; at `cut` bytes apply `fault` to dst (the client)."""
        sent = 0
        while not done.is_set() and not self._stop.is_set():
            try:
                data = src.recv(_CHUNK)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if cut is not None and sent + len(data) >= cut:
                _send(dst, data[: cut - sent])
                self._fault(dst, fault)
                break
            if not _send(dst, data):
                break
            sent += len(data)
        done.set()
        if cut is None or fault == "none":
            _close(dst)

    def _fault(self, client: socket.socket, fault: str) -> None:
        if fault == "stall":
            self._stop.wait(self.faults.stall_seconds)
        if fault == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        _close(client)


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released; nothing here binds it again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_headers(conn: socket.socket, stop: threading.Event) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536 and not stop.is_set():
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        if not chunk:
            return
        data += chunk


def _send(conn: socket.socket, data: bytes) -> bool:
    conn.settimeout(30)
    try:
        conn.sendall(data)
    except OSError:
        return False
    finally:
        conn.settimeout(_POLL)
    return True


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.close()
