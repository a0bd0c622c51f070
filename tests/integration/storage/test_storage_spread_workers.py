"""Downloads spread over worker processes (mldock.storage.spread, mldock.storage.worker), against the real
emulators: every file arrives once and intact whichever process fetched it, a worker's failure is the caller's
failure, a worker that dies costs nothing, and a worker never outlives its caller.

The plans here start a worker as soon as the first window has passed (busy=0, spare=0), so that the workers'
part does not depend on how loaded the machine is; what the default plan decides is unit-tested."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mldock.errors import StorageError
from mldock.storage.blob import BlobRemote
from mldock.storage.registry import remote_for
from mldock.storage.spread import SpreadPlan, WorkerJobs, _worker_command, spread

pytestmark = pytest.mark.integration

CLOUDS = ["s3", "gs", "az"]
EAGER = SpreadPlan(processes=2, busy=0.0, spare=0.0, min_remaining=1, window=0.05)


def _seed(backend: Any, count: int) -> tuple[str, dict[str, bytes]]:
    bucket = backend.new_bucket()
    objects = {
        f"part-{i % 7}/file-{i:04d}.bin": hashlib.sha256(str(i).encode()).digest() * (1 + i % 5) for i in range(count)
    }
    for key, data in objects.items():
        backend.put(bucket, f"data/{key}", data)
    return bucket, objects


def _tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _workers() -> list[int]:
    """This process's children that are transfer workers (the emulators are children too)."""
    found: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if b"mldock.storage.worker" in command:
                found.append(int(pid))
    return found


def _remote(backend: Any, bucket: str, plan: SpreadPlan) -> BlobRemote:
    remote = remote_for(backend.uri(bucket, "data"), backend.env)
    assert isinstance(remote, BlobRemote)
    remote.spread_plan = plan
    return remote


def _held_until(remote: BlobRemote, released: threading.Event) -> None:
    """The caller's own threads start no file before `released` is set (the worker process is not held)."""
    fetch = remote.fetch_with_retry

    def held(*args: Any) -> int:
        released.wait(timeout=120)
        return fetch(*args)

    remote.fetch_with_retry = held  # type: ignore[method-assign]


def _from_the_worker() -> bool:
    """True when a progress call reports a file a worker process finished."""
    return threading.current_thread().name == "mldock-transfer-worker"


@pytest.mark.parametrize("storage_backend", CLOUDS, indirect=True, ids=CLOUDS)
def test_a_spread_download_moves_every_file_once_and_intact(storage_backend: Any, tmp_path: Path) -> None:
    bucket, objects = _seed(storage_backend, 400)
    remote = _remote(storage_backend, bucket, EAGER)
    worker_did_one = threading.Event()
    _held_until(remote, worker_did_one)  # so that both processes take part, however loaded the machine
    reported: list[int] = []

    def progress(count: int) -> None:
        reported.append(count)
        if _from_the_worker():
            worker_did_one.set()

    report = remote.download(storage_backend.uri(bucket, "data"), tmp_path / "dest", progress=progress)
    assert worker_did_one.is_set()
    assert report.processes == 2
    assert (report.files, report.bytes) == (len(objects), sum(map(len, objects.values())))
    assert sum(reported) == report.bytes
    assert _tree(tmp_path / "dest") == objects  # no partial file left, none missing, none garbled
    assert _workers() == []  # waited for


@pytest.mark.parametrize("storage_backend", CLOUDS, indirect=True, ids=CLOUDS)
def test_a_worker_killed_mid_way_costs_nothing(storage_backend: Any, tmp_path: Path) -> None:
    bucket, objects = _seed(storage_backend, 400)
    remote = _remote(storage_backend, bucket, EAGER)
    killed = threading.Event()
    _held_until(remote, killed)

    def kill_the_worker(_count: int) -> None:
        # the first file the worker reports: it has the rest of its batch in hand, which the caller must redo
        if not killed.is_set() and _from_the_worker():
            (worker,) = _workers()
            os.kill(worker, signal.SIGKILL)
            killed.set()

    report = remote.download(storage_backend.uri(bucket, "data"), tmp_path / "dest", progress=kill_the_worker)
    assert killed.is_set()
    assert (report.files, report.processes) == (len(objects), 2)
    assert _tree(tmp_path / "dest") == objects  # its jobs done again, its partial files removed


def test_a_workers_failure_is_raised_by_the_caller(tmp_path: Path) -> None:
    """The worker's remote is refused (an unusable timeout in its settings): the caller raises what it said."""
    jobs = list(range(2000))

    def slow(job: int) -> int:  # the caller's own part lasts until the worker's error closes the queue
        time.sleep(0.05)
        return job

    setup = {"uri": "s3://bucket/data", "environ": {"MLDOCK_STORAGE_TIMEOUT": "soon"}, "threads": 2, "attempts": 1}
    with pytest.raises(StorageError, match="a transfer worker process failed: UserError: MLDOCK_STORAGE_TIMEOUT"):
        spread(slow, jobs, threads=1, plan=EAGER, workers=WorkerJobs(setup, json.dumps, lambda _n: None), where="x")
    assert _workers() == []


def test_a_workers_transfer_failure_keeps_its_type_and_message(tmp_path: Path) -> None:
    """The worker's endpoint refuses connections: it gives up after its attempts, and the caller raises the
    StorageError naming the object and the endpoint."""
    dest = tmp_path / "dest"
    dest.mkdir()
    jobs = [[f"data/k{i}", f"k{i}", 10, None, str(dest / f"k{i}")] for i in range(2000)]
    environ = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard: nothing listens
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLDOCK_STORAGE_TIMEOUT": "2",
    }
    setup = {"uri": "s3://bucket/data", "environ": environ, "threads": 2, "attempts": 1}

    def slow(job: object) -> int:
        time.sleep(0.05)
        return 0

    with pytest.raises(StorageError) as caught:
        spread(
            slow, jobs, threads=1, plan=EAGER, workers=WorkerJobs(setup, lambda job: job, lambda _n: None), where="x"
        )
    message = str(caught.value)
    assert "s3://bucket/data/k" in message
    assert "127.0.0.1:9" in message
    assert "test-secret" not in message
    assert not [p for p in dest.iterdir() if p.name.endswith(".mldock-partial")]


def _started_worker() -> subprocess.Popen[bytes]:
    """A worker process that has read its setup and asked for its first jobs."""
    worker = subprocess.Popen(_worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert worker.stdin is not None
    assert worker.stdout is not None
    setup = {"uri": "s3://bucket/data", "environ": {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "threads": 2}
    worker.stdin.write(json.dumps({"setup": setup}).encode() + b"\n")
    worker.stdin.flush()
    assert json.loads(worker.stdout.readline()) == {"want": 64}
    return worker


def test_a_worker_stops_when_its_caller_goes() -> None:
    worker = _started_worker()
    _out, err = worker.communicate(timeout=30)  # closes its stdin: what a caller that died leaves
    assert worker.returncode == 0
    assert err == b""


def test_ctrl_c_in_the_terminal_is_the_callers_to_handle() -> None:
    """Ctrl-C reaches the whole foreground process group; the worker ignores it (its caller stops it)."""
    worker = _started_worker()
    worker.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert worker.poll() is None
    _out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert b"Traceback" not in err
