"""Serving benchmark: mldock's serving entrypoint against a plain WSGI app on waitress (and FastAPI on uvicorn).

    .venv/bin/python benchmarks/serving.py --seconds 20 --clients 32

Every contender serves the same trivial predictor (JSON in, JSON out) from one temporary project, as a
subprocess on 127.0.0.1 with 4 worker threads where the server has them:

| contender | what runs |
|---|---|
| mldock | `python -m mldock.runtime.entrypoint serve` with the project (the real entrypoint, default settings) |
| waitress | a 20-line WSGI app calling the same predictor, `waitress.serve(app, threads=4)` |
| fastapi | the same predictor behind FastAPI on uvicorn (`run_in_threadpool`); skipped when not installed |

Measured in one run, per contender:
- throughput: `--clients` keep-alive clients (spread over `--client-processes` processes) sending
  POST /invocations back to back for `--seconds`; requests/s, p50/p99 latency, non-200 answers;
- /ping while busy: `--slow-clients` connections keep every worker busy with predictions that sleep
  `--slow-seconds` (more of them than workers, so some queue), while one client pings; /ping p50/p99 over
  up to `--pings` pings or `--ping-window` seconds;
- log lines the server wrote to stderr during the run, and how many were waitress's "Task queue depth".

The table gives each figure's ratio to the plain waitress app measured in the same run (throughput:
contender / waitress, higher is better). Figures vary run to run on shared machines: compare ratios within a
run. Every loop is bounded by time or count; everything listens on loopback only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PREDICTOR = """
import json
import time


class Predictor:
    def __init__(self, env=None):
        self.scale = 2

    def predict(self, body, content_type, accept):
        request = json.loads(body)
        if "sleep" in request:
            time.sleep(request["sleep"])
            return {"slept": request["sleep"]}
        return {"y": [value * self.scale for value in request["x"]]}
"""

PLAIN_WAITRESS = """
import json, sys
sys.path.insert(0, sys.argv[2])
import waitress
from predictor import Predictor

predictor = Predictor()

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ping":
        body, status = b'{"status": "ok"}', "200 OK"
    elif path == "/invocations":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length)
        result = predictor.predict(data, environ.get("CONTENT_TYPE", ""), environ.get("HTTP_ACCEPT", "*/*"))
        body, status = json.dumps(result).encode(), "200 OK"
    else:
        body, status = b"{}", "404 Not Found"
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=4)
"""

FASTAPI_UVICORN = """
import json, sys
sys.path.insert(0, sys.argv[2])
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from predictor import Predictor

predictor = Predictor()
app = FastAPI()

@app.get("/ping")
async def ping():
    return Response(b'{"status": "ok"}', media_type="application/json")

@app.post("/invocations")
async def invocations(request: Request):
    data = await request.body()
    headers = request.headers
    result = await run_in_threadpool(
        predictor.predict, data, headers.get("content-type", ""), headers.get("accept", "*/*")
    )
    return Response(json.dumps(result).encode(), media_type="application/json")

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

BODY = json.dumps({"x": [1, 2.5, 3]}).encode()


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _read_response(sock: socket.socket, pending: bytearray) -> int:
    """Read one response from a keep-alive connection; its status. `pending` keeps bytes read past it."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        pending += chunk
    head, _, _ = bytes(pending).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = len(head) + 4 + length
    while len(pending) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        pending += chunk
    del pending[:total]
    return int(head.split(b" ", 2)[1])


def _load_process(port: int, threads: int, seconds: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One client process: `threads` keep-alive clients sending predictions until `seconds` have passed."""
    request = _request("POST", "/invocations", BODY)
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    failures = [0]

    def client() -> None:
        sock, pending = None, bytearray()
        while time.monotonic() < deadline:
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                    pending = bytearray()
                started = time.perf_counter()
                sock.sendall(request)
                status = _read_response(sock, pending)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failures[0] += 1
            except OSError:
                failures[0] += 1
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 60)
    results.put((latencies, failures[0]))


def _ping_while_busy(
    port: int, slow_clients: int, slow_seconds: float, pings: int, window: float
) -> tuple[list[float], int]:
    """/ping latencies while `slow_clients` connections keep every worker busy; (latencies, failed pings)."""
    stop = threading.Event()
    slow = _request("POST", "/invocations", json.dumps({"sleep": slow_seconds}).encode())

    def keep_busy() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=slow_seconds * slow_clients + 30) as sock:
                pending = bytearray()
                while not stop.is_set():
                    sock.sendall(slow)
                    _read_response(sock, pending)
        except OSError:
            pass

    busy = [threading.Thread(target=keep_busy) for _ in range(slow_clients)]
    for thread in busy:
        thread.start()
    time.sleep(min(0.5, slow_seconds / 2))  # the slow predictions reach the workers
    latencies: list[float] = []
    failed = 0
    ping = _request("GET", "/ping")
    deadline = time.monotonic() + window
    with socket.create_connection(("127.0.0.1", port), timeout=window + slow_seconds * slow_clients + 30) as sock:
        pending = bytearray()
        while len(latencies) + failed < pings and time.monotonic() < deadline:
            started = time.perf_counter()
            sock.sendall(ping)
            if _read_response(sock, pending) == 200:
                latencies.append(time.perf_counter() - started)
            else:
                failed += 1
    stop.set()
    for thread in busy:
        thread.join(timeout=slow_seconds * slow_clients + 30)
    return latencies, failed


@dataclass
class Result:
    name: str
    requests: int = 0
    seconds: float = 0.0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)
    pings: list[float] = field(default_factory=list)
    ping_failures: int = 0
    log_lines: int = 0
    queue_lines: int = 0
    skipped: str = ""

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(_request("GET", "/ping"))
                if _read_response(sock, bytearray()) == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /ping within {timeout:.0f}s")


def _command(name: str, port: int, project: Path, base: Path) -> tuple[list[str], dict[str, str]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLDOCK_", "AIP_"))}
    if name == "mldock":
        environ |= {
            "MLDOCK_BASE_DIR": str(base),
            "MLDOCK_PROJECT_DIR": str(project),
            "MLDOCK_SERVE_HOST": "127.0.0.1",
            "MLDOCK_SERVE_PORT": str(port),
        }
        return [sys.executable, "-m", "mldock.runtime.entrypoint", "serve"], environ
    script = PLAIN_WAITRESS if name == "waitress" else FASTAPI_UVICORN
    return [sys.executable, "-c", script, str(port), str(project)], environ


def run_contender(name: str, args: argparse.Namespace, project: Path, workdir: Path) -> Result:
    result = Result(name)
    if name == "fastapi" and not all(importlib.util.find_spec(m) for m in ("fastapi", "uvicorn")):
        result.skipped = "fastapi/uvicorn not installed (not a dependency; pip install fastapi uvicorn to compare)"
        return result
    port = _free_port()
    command, environ = _command(name, port, project, workdir / f"base-{name}")
    log = workdir / f"{name}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        _wait_ready(port, process)
        lines_before = len(log.read_bytes().splitlines())
        per_process = [args.clients // args.client_processes] * args.client_processes
        per_process[0] += args.clients - sum(per_process)
        context = multiprocessing.get_context("spawn")
        results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        clients = [
            context.Process(target=_load_process, args=(port, threads, args.seconds, results))
            for threads in per_process
        ]
        started = time.perf_counter()
        for client in clients:
            client.start()
        for _ in clients:
            latencies, failures = results.get(timeout=args.seconds + 120)
            result.latencies += latencies
            result.failures += failures
        result.seconds = time.perf_counter() - started
        for client in clients:
            client.join(timeout=30)
        result.requests = len(result.latencies)
        result.pings, result.ping_failures = _ping_while_busy(
            port, args.slow_clients, args.slow_seconds, args.pings, args.ping_window
        )
        lines = log.read_bytes().splitlines()[lines_before:]
        result.log_lines = len(lines)
        result.queue_lines = sum(b"Task queue depth" in line for line in lines)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _ratio(value: float, reference: float) -> str:
    if not reference or value != value or reference != reference:  # nothing to compare, or NaN
        return "-"
    ratio = value / reference
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    reference = next((r for r in results if r.name == "waitress" and not r.skipped), None)
    print(
        f"\n{args.clients} keep-alive clients for {args.seconds:g}s; /ping while {args.slow_clients} clients keep "
        f"the workers busy with {args.slow_seconds:g}s predictions (ratios: against the plain waitress app)\n"
    )
    header = (
        "| server | req/s | x waitress | p50 ms | p99 ms | errors | /ping p50 ms (busy) | /ping p99 ms | x waitress "
        "| pings | log lines | queue-depth lines |"
    )
    print(header)
    print("|---|" + "---:|" * (header.count("|") - 2))
    for r in results:
        if r.skipped:
            print(f"| {r.name} | skipped: {r.skipped} |")
            continue
        p50, p99 = _percentile(r.latencies, 0.5), _percentile(r.latencies, 0.99)
        ping50, ping99 = _percentile(r.pings, 0.5), _percentile(r.pings, 0.99)
        ref_ping = _percentile(reference.pings, 0.99) if reference else float("nan")
        print(
            f"| {r.name} | {r.throughput:,.0f} | {_ratio(r.throughput, reference.throughput) if reference else '-'} "
            f"| {_ms(p50)} | {_ms(p99)} | {r.failures} | {_ms(ping50)} | {_ms(ping99)} | {_ratio(ping99, ref_ping)} "
            f"| {len(r.pings)}{f' ({r.ping_failures} failed)' if r.ping_failures else ''} | {r.log_lines} "
            f"| {r.queue_lines} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the throughput phase")
    parser.add_argument("--clients", type=int, default=32, help="keep-alive clients in the throughput phase")
    parser.add_argument("--client-processes", type=int, default=2, help="processes the clients are spread over")
    parser.add_argument("--slow-clients", type=int, default=6, help="clients keeping the workers busy")
    parser.add_argument("--slow-seconds", type=float, default=2.0, help="how long one slow prediction sleeps")
    parser.add_argument("--pings", type=int, default=200, help="at most this many /ping requests while busy")
    parser.add_argument("--ping-window", type=float, default=10.0, help="at most this long pinging while busy")
    parser.add_argument(
        "--only", nargs="*", default=["mldock", "waitress", "fastapi"], help="contenders (waitress is the reference)"
    )
    args = parser.parse_args(argv)
    args.client_processes = max(1, min(args.client_processes, args.clients))
    with tempfile.TemporaryDirectory(prefix="mldock-serving-bench-") as tmp:
        workdir = Path(tmp)
        project = workdir / "project"
        project.mkdir()
        (project / "predictor.py").write_text(PREDICTOR)
        results = []
        for name in args.only:
            print(f"{name}: measuring ...", file=sys.stderr, flush=True)
            results.append(run_contender(name, args, project, workdir))
    print_table(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
