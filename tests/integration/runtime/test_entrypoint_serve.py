"""`mldock-entrypoint serve` end to end: readiness during a slow startup, invocations, AIP_* routes, SIGTERM,
health checks while every worker is busy, hostile clients, requests dropped at stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PREDICTOR = """
import json
from mldock import UserError

env_base = None

class Predictor:
    def __init__(self, env):
        global env_base
        env_base = str(env.base_dir)
        self.scale = (env.model_dir / "model" / "scale.txt").read_text().strip()

    def predict(self, body, content_type, accept):
        request = json.loads(body)
        if "x" not in request:
            raise UserError("missing x")
        if request["x"] == "crash":
            raise RuntimeError("internal detail")
        if request["x"] == "block":
            import time
            import uuid
            from pathlib import Path
            base = Path(env_base)
            (base / "in-predict").write_text("yes")
            (base / f"started-{uuid.uuid4().hex}").write_text("yes")
            while not (base / "finish").exists():
                time.sleep(0.05)
            return {"finished": True}
        return {"y": request["x"] * int(self.scale), "content_type": content_type, "accept": accept}
"""

ASSETS = """
import time
from mldock import ServingContainer, on_startup, on_cleanup

class Serving(ServingContainer):
    @on_startup
    def wait_for_release(self) -> None:
        release = self.env.base_dir / "release"
        while not release.exists():
            time.sleep(0.05)

    @on_cleanup
    def say_goodbye(self) -> None:
        (self.env.output_dir / "logs" / "goodbye.txt").write_text("bye")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, process: subprocess.Popen[str], port: int, base: Path) -> None:
        self.process, self.port, self.base = process, port, base

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, bytes]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_until(self, path: str, status: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited ({self.process.returncode}): {self.process.communicate()[1]}")
            try:
                if self.request("GET", path)[0] == status:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"{path} never answered {status}")

    def release(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "release").write_text("go")

    def block(self, count: int) -> tuple[list[threading.Thread], list[tuple[int, bytes] | str]]:
        """Send `count` predictions that run until `finish()`; returns once all of them have started."""
        answers: list[tuple[int, bytes] | str] = []

        def send() -> None:
            try:
                answers.append(self.request("POST", "/invocations", b'{"x": "block"}'))
            except OSError as exc:
                answers.append(type(exc).__name__)

        clients = [threading.Thread(target=send) for _ in range(count)]
        for client in clients:
            client.start()
        return clients, answers

    def wait_started(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(list(self.base.glob("started-*"))) < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"{count} predictions never ran at once")
            time.sleep(0.05)

    def finish(self) -> None:
        (self.base / "finish").write_text("go")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "predictor.py").write_text(PREDICTOR)
    (root / "assets.py").write_text(ASSETS)
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    (tmp_path / "store" / "model").mkdir(parents=True)
    (tmp_path / "store" / "model" / "scale.txt").write_text("3\n")
    (tmp_path / "store" / "results").mkdir()
    return tmp_path / "store"


def _start(
    project: Path, store: Path, base: Path, port_variables: dict[str, str], **extra: str
) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLDOCK_", "AIP_"))}
    environ |= {
        "MLDOCK_BASE_DIR": str(base),
        "MLDOCK_PROJECT_DIR": str(project),
        "MLDOCK_SERVE_HOST": "127.0.0.1",
        "MLDOCK_INPUT_MODEL_CHANNEL_MODEL": f"file://{store}/model",
        "MLDOCK_OUTPUT_CHANNEL_LOGS": f"file://{store}/results/logs",
        "MLDOCK_SERVE_UPLOAD_OUTPUTS": "true",  # serving uploads nothing unless asked
        **port_variables,
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "mldock.runtime.entrypoint", "serve"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def server(project: Path, store: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The serving entrypoint; parametrize with AIP_* variables, or MLDOCK_* settings, to change them."""
    port = _free_port()
    param: dict[str, str] = getattr(request, "param", {})
    aip = {name: value for name, value in param.items() if name.startswith("AIP_")}
    settings = {name: value for name, value in param.items() if not name.startswith("AIP_")}
    variables = {"AIP_HTTP_PORT": str(port), **aip} if aip else {"MLDOCK_SERVE_PORT": str(port)}
    process = _start(project, store, tmp_path / "base", variables, **settings)
    running = Server(process, port, tmp_path / "base")
    yield running
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_ping_is_503_during_a_slow_startup_then_200(server: Server) -> None:
    server.wait_until("/ping", 503)
    assert server.request("POST", "/invocations", b'{"x": 1}')[0] == 503
    server.release()
    server.wait_until("/ping", 200)


def test_invocations_json_round_trip_and_errors(server: Server) -> None:
    server.release()
    server.wait_until("/ping", 200)
    status, body = server.request(
        "POST", "/invocations", b'{"x": 2}', **{"Content-Type": "application/json", "Accept": "application/json"}
    )
    assert status == 200
    assert json.loads(body) == {"y": 6, "content_type": "application/json", "accept": "application/json"}
    status, body = server.request("POST", "/invocations", b"{}")
    assert (status, json.loads(body)) == (400, {"error": "missing x"})
    status, body = server.request("POST", "/invocations", b'{"x": "crash"}')
    assert status == 500
    assert b"internal detail" not in body


@pytest.mark.parametrize(
    "server",
    [pytest.param({"AIP_HEALTH_ROUTE": "/health", "AIP_PREDICT_ROUTE": "/v1/models/m:predict"}, id="vertex")],
    indirect=True,
)
def test_vertex_port_and_routes_are_honoured(server: Server) -> None:
    server.release()
    server.wait_until("/health", 200)
    assert server.request("GET", "/ping")[0] == 200
    status, body = server.request("POST", "/v1/models/m:predict", b'{"x": 1}')
    assert (status, json.loads(body)["y"]) == (200, 3)


def test_sigterm_shuts_down_gracefully_runs_cleanup_and_exits_0(server: Server, store: Path) -> None:
    server.release()
    server.wait_until("/ping", 200)
    server.process.send_signal(signal.SIGTERM)
    _, stderr = server.process.communicate(timeout=60)
    assert server.process.returncode == 0, stderr
    assert (store / "results" / "logs" / "goodbye.txt").read_text() == "bye"
    assert "mldock: cleanup: done" in stderr


def test_a_missing_predictor_exits_2(project: Path, store: Path, tmp_path: Path) -> None:
    (project / "predictor.py").unlink()
    process = _start(project, store, tmp_path / "base", {"MLDOCK_SERVE_PORT": str(_free_port())})
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert (tmp_path / "base" / "output" / "failure").read_text().startswith("AssetsError:")


def test_a_failing_predictor_constructor_stops_the_server(project: Path, store: Path, tmp_path: Path) -> None:
    (project / "assets.py").unlink()
    (store / "model" / "scale.txt").unlink()
    (store / "model" / "other.txt").write_text("x")
    process = _start(project, store, tmp_path / "base", {"MLDOCK_SERVE_PORT": str(_free_port())})
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert (tmp_path / "base" / "output" / "failure").read_text().startswith("FileNotFoundError:")


def test_sigterm_lets_in_flight_requests_finish(server: Server) -> None:
    server.release()
    server.wait_until("/ping", 200)
    answers: list[tuple[int, bytes]] = []
    client = threading.Thread(target=lambda: answers.append(server.request("POST", "/invocations", b'{"x": "block"}')))
    client.start()
    deadline = time.monotonic() + 60
    while not (server.base / "in-predict").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.send_signal(signal.SIGTERM)
    while _accepts(server.port) and time.monotonic() < deadline:  # the listening socket closes first
        time.sleep(0.05)
    assert not _accepts(server.port)
    (server.base / "finish").write_text("go")
    client.join(timeout=60)
    _, stderr = server.process.communicate(timeout=60)
    assert server.process.returncode == 0, stderr
    assert answers == [(200, b'{"finished": true}')]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("server", [pytest.param({"MLDOCK_SERVE_THREADS": "2"}, id="2-workers")], indirect=True)
def test_ping_answers_while_every_worker_is_busy(server: Server) -> None:
    """SageMaker times a ping out after 2 s: it must not wait behind predictions (nor behind queued ones)."""
    server.release()
    server.wait_until("/ping", 200)
    clients, answers = server.block(3)  # 2 running, 1 queued behind them
    server.wait_started(2)
    assert server.request("GET", "/ping") == (200, b'{"status": "ok"}')
    assert answers == []  # none can have finished: finish() comes next
    server.finish()
    for client in clients:
        client.join(timeout=60)
    assert answers == [(200, b'{"finished": true}')] * 3


def _slow_client(port: int) -> socket.socket:
    """A connection that sends part of a request's headers and then nothing (a slow-loris client)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-")
    return sock


def _closed_by_server(sock: socket.socket) -> bytes | None:
    """What the server sent before closing `sock`, or None when it is still open."""
    sock.settimeout(0.01)
    try:
        return sock.recv(4096)
    except (TimeoutError, BlockingIOError):
        return None
    except OSError:
        return b""


@pytest.mark.parametrize(
    "server",
    [pytest.param({"MLDOCK_SERVE_CONNECTION_LIMIT": "5", "MLDOCK_SERVE_HEADER_TIMEOUT": "600"}, id="limit-5")],
    indirect=True,
)
def test_slow_clients_over_the_connection_limit_cannot_lock_out_ping(server: Server) -> None:
    """More slow clients than the limit: the newest connection gets in; one with a request running stays."""
    server.release()
    server.wait_until("/ping", 200)
    clients, answers = server.block(1)
    server.wait_started(1)
    slow = [_slow_client(server.port) for _ in range(12)]
    try:
        assert server.request("GET", "/ping")[0] == 200
        server.finish()
        clients[0].join(timeout=60)
        assert answers == [(200, b'{"finished": true}')]  # the busy connection was never closed for room
        closed = [sock for sock in slow if _closed_by_server(sock) is not None]
        assert len(closed) >= len(slow) - 5
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.parametrize(
    "server", [pytest.param({"MLDOCK_SERVE_HEADER_TIMEOUT": "0.5"}, id="header-0.5s")], indirect=True
)
def test_a_request_whose_headers_never_finish_gets_408_and_is_closed(server: Server) -> None:
    server.release()
    server.wait_until("/ping", 200)
    with _slow_client(server.port) as sock:
        received = b""
        while chunk := sock.recv(4096):  # the socket's 30 s timeout only guards against a hang
            received += chunk
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
    assert server.request("GET", "/ping")[0] == 200


@pytest.mark.parametrize("server", [pytest.param({"MLDOCK_STOP_GRACE_SECONDS": "0.5"}, id="grace-0.5s")], indirect=True)
def test_requests_dropped_when_the_grace_expires_give_143_and_a_count(server: Server, store: Path) -> None:
    server.release()
    server.wait_until("/ping", 200)
    clients, answers = server.block(1)
    server.wait_started(1)
    server.process.send_signal(signal.SIGTERM)
    _, stderr = server.process.communicate(timeout=60)
    clients[0].join(timeout=60)
    assert server.process.returncode == 143, stderr
    assert "1 request(s) still in flight after the 0.5s stop grace; dropping them" in stderr
    assert "mldock: cleanup: done" in stderr  # cleanup still runs
    assert (store / "results" / "logs" / "goodbye.txt").read_text() == "bye"
    failure = (server.base / "output" / "failure").read_text()
    assert failure.startswith("terminated by SIGTERM: 1 request(s) still in flight"), failure
    assert len(answers) == 1
    assert isinstance(answers[0], str), answers  # the client got no answer: its connection was closed


def test_sagemaker_port_and_stop_deadline_bound_the_drain(project: Path, store: Path, tmp_path: Path) -> None:
    """SAGEMAKER_BIND_TO_PORT is the port; a 7 s stop deadline caps the 20 s default grace at (7 - 5) / 2 = 1 s."""
    port = _free_port()
    base = tmp_path / "base"
    process = _start(project, store, base, {"SAGEMAKER_BIND_TO_PORT": str(port)}, MLDOCK_STOP_DEADLINE_SECONDS="7")
    server = Server(process, port, base)
    try:
        server.release()
        server.wait_until("/ping", 200)
        status, body = server.request("GET", "/execution-parameters")
        assert status == 200
        assert json.loads(body)["BatchStrategy"] == "MULTI_RECORD"
        clients, _ = server.block(1)
        server.wait_started(1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        clients[0].join(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 143, stderr
    assert "1 request(s) still in flight after the 1s stop grace; dropping them" in stderr


def test_serving_on_sagemakers_read_only_layout_with_no_mldock_variable(project: Path, tmp_path: Path) -> None:
    """The model where SageMaker unpacks it, no MLDOCK_* channel variable, a base dir nothing may be written to."""
    base = tmp_path / "ml"
    (base / "model").mkdir(parents=True)
    (base / "model" / "scale.txt").write_text("5\n")
    (base / "release").write_text("go")
    (project / "predictor.py").write_text(PREDICTOR.replace('env.model_dir / "model"', "env.model_dir"))
    (project / "assets.py").unlink()
    before = sorted(p.relative_to(base) for p in base.rglob("*"))
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLDOCK_", "AIP_"))}
    environ |= {"MLDOCK_BASE_DIR": str(base), "MLDOCK_PROJECT_DIR": str(project), "MLDOCK_SERVE_HOST": "127.0.0.1"}
    environ["SAGEMAKER_BIND_TO_PORT"] = str(port)
    process = subprocess.Popen(
        [sys.executable, "-m", "mldock.runtime.entrypoint", "serve"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(process, port, base)
    try:
        server.wait_until("/ping", 200)
        status, body = server.request("POST", "/invocations", b'{"x": 2}')
        assert status == 200
        assert json.loads(body)["y"] == 10
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "setup: SageMaker hosting" in stderr
    assert sorted(p.relative_to(base) for p in base.rglob("*")) == before  # nothing written below the base dir
