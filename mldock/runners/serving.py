"""A live serving task as seen from the host: ping it, invoke it, read its logs (standard library HTTP).

    endpoint = HttpEndpoint("http://127.0.0.1:8080", logs=lambda: "")
    endpoint.ping()                                        # 200 once the model is loaded
    response = endpoint.invoke('{"x": [1, 2]}')
    response.status, response.json()

Both runners start the task, call `wait_until_healthy`, and hand out an `HttpEndpoint`.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mldock.contract import DEFAULT_HEALTH_ROUTE, DEFAULT_PREDICT_ROUTE
from mldock.errors import RunnerError, UserError

__all__ = ["HttpEndpoint", "InvocationResponse", "check_port_free", "client_host", "free_port", "wait_until_healthy"]

_LOG_TAIL_LINES = 40
_MAX_PING_INTERVAL = 0.1  # seconds between readiness pings once they have slowed down


@dataclass(frozen=True)
class InvocationResponse:
    """What `POST /invocations` answered: status, headers (lower-cased names) and body.

        response = endpoint.invoke(b"1,2,3", content_type="text/csv")
        assert response.ok, response.text
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class HttpEndpoint:
    """A serving task reachable at `url` (the host side of its port); `logs` reads its output so far.

        with runner.serve(spec) as endpoint:
            assert endpoint.ping() == 200
            print(endpoint.invoke({"rows": [[1, 2]]}).json())
    """

    def __init__(self, url: str, *, logs: Callable[[], str], timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._logs = logs
        self.timeout = timeout

    def ping(self) -> int:
        """The status code of GET /ping (0 when nothing answers)."""
        try:
            return self._request("GET", DEFAULT_HEALTH_ROUTE, timeout=5.0).status
        except RunnerError:
            return 0

    def invoke(
        self,
        body: bytes | str | Mapping[str, Any] | list[Any],
        content_type: str = "application/json",
        accept: str = "*/*",
    ) -> InvocationResponse:
        """POST `body` to /invocations (a dict or list goes as JSON); an HTTP error status is returned, not raised."""
        if isinstance(body, (Mapping, list)):
            data = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = body
        headers = {"Content-Type": content_type, "Accept": accept}
        return self._request("POST", DEFAULT_PREDICT_ROUTE, data=data, headers=headers, timeout=self.timeout)

    def logs(self) -> str:
        return self._logs()

    def _request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float,
    ) -> InvocationResponse:
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return InvocationResponse(response.status, _headers(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return InvocationResponse(exc.code, _headers(exc.headers), exc.read())
        except (OSError, ValueError) as exc:  # URLError, connection reset, timeouts, bad status line
            raise RunnerError(f"{method} {self.url}{path} failed: {exc}") from exc

    def __repr__(self) -> str:
        return f"HttpEndpoint({self.url})"


def _headers(message: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()} if message is not None else {}


def wait_until_healthy(
    endpoint: HttpEndpoint,
    *,
    timeout: float,
    exited: Callable[[], int | None],
    what: str,
    interval: float = 0.05,
) -> None:
    """Poll GET /ping until it answers 200; RunnerError (with the log tail) on timeout or when the task exits.

    The pings start `interval` apart and slow to one per _MAX_PING_INTERVAL: a server that comes up is seen
    within that (a refused connection or a 503 costs the task next to nothing).

    `exited()` returns the task's exit code once it has stopped, else None.
    """
    deadline = time.monotonic() + timeout
    last = 0
    while True:
        code = exited()
        if code is not None:
            raise RunnerError(
                f"{what} exited with code {code} before /ping answered 200\n"
                f"--- logs (tail) ---\n{_tail(endpoint.logs())}"
            )
        last = endpoint.ping()
        if last == 200:
            return
        if time.monotonic() >= deadline:
            state = f"last answer HTTP {last}" if last else "nothing answered"
            raise RunnerError(
                f"{what} did not answer GET {endpoint.url}/ping with 200 within {timeout:.0f}s ({state}); "
                f"pass a larger ready_timeout if loading the model takes longer\n"
                f"--- logs (tail) ---\n{_tail(endpoint.logs())}"
            )
        time.sleep(interval)
        interval = min(interval * 1.5, _MAX_PING_INTERVAL)


def free_port() -> int:
    """A loopback port free right now (the task binds it a moment later; a lost race shows as a start error)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_host(host: str) -> str:
    """The address a client on this machine uses for a server listening on `host` (a wildcard means loopback)."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def check_port_free(host: str, port: int) -> None:
    """UserError naming `host:port` when nothing can listen there now (taken, or not an address of this machine).

    Checked before a serving task starts, so the mistake is a plain error instead of a task that cannot bind.
    """
    if port == 0:
        return
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, port))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port") from exc


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
