"""Spread many small transfers over worker processes while one process is the limit.

    done = spread(fetch, jobs, threads=16, plan=plan_from(environ), workers=WorkerJobs(...), where="s3://b/p")
    done.moved, done.processes                     # what each job moved; the processes that took part

One Python process moves small objects no faster than one core runs the SDK's request path: its threads share
one interpreter lock. `spread` starts the jobs on the caller's threads, which pull them from one queue. While
they run, a watcher samples the CPU (mldock.storage.cpu) every `plan.window` seconds, and while the caller's
process keeps at least `plan.busy` of a core busy, the machine has at least `plan.spare` of a core idle and at
least `plan.min_remaining` jobs wait, it starts a worker process (`python -c` running
`mldock.storage.worker.main`; at most `plan.processes` processes in all) that takes batches from the same
queue. Where the server is the limit, or the machine has no core to spare (an emulator on the same two
cores), the process does not keep a core busy or nothing is idle, and no worker starts.

The worker protocol is JSON lines. Over the worker's stdin: `{"setup": ...}` first (how to make the remote: it
may hold credentials, so it never goes into argv, the environment or a log), then `{"jobs": [[id, job], ...]}`
or `{"end": true}`, one answer to each `{"want": n}` the worker writes to its stdout; the worker also writes
`{"done": id, "bytes": n}` for every finished job and `{"error": type, "message": text}` for a job that failed
after its retries (it then asks for nothing more). A worker failure ends the transfer as one of the caller's
own would: nothing more is handed out, what is in flight finishes, the error is raised. The jobs of a worker
that dies without an answer for them are done again by the caller. A worker stops when its stdin closes, so
it never outlives a caller that died; a caller that leaves early (an error, Ctrl-C) closes it and kills the
worker if it has not stopped in WORKER_GRACE seconds.

MLDOCK_TRANSFER_PROCESSES sets `plan.processes`: unset or `auto` means the usable cores (at most
AUTO_PROCESSES); `1` keeps every transfer in the caller's process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

import mldock
from mldock.contract import TRANSFER_PROCESSES
from mldock.errors import RemoteNotFoundError, StorageError, UnsafeKeyError, UserError
from mldock.storage.base import ContentMismatch
from mldock.storage.cpu import CpuGauge, usable_cores

__all__ = [
    "AUTO_PROCESSES",
    "BATCH",
    "MAX_PROCESSES",
    "JobQueue",
    "Spread",
    "SpreadPlan",
    "WorkerJobs",
    "error_from",
    "error_message",
    "plan_from",
    "run_pulling",
    "spread",
]

T = TypeVar("T")
R = TypeVar("R")

AUTO_PROCESSES = 4
"""The most processes `auto` uses, however many cores there are (each holds an SDK client and its pool)."""
MAX_PROCESSES = 64
BATCH = 64
"""Jobs a worker gets per request (it asks again before its last ones start)."""
WORKER_GRACE = 30.0
"""Seconds a worker gets to finish the jobs in flight once told to stop, before it is killed."""

_ERRORS: dict[str, type[StorageError]] = {
    cls.__name__: cls for cls in (StorageError, RemoteNotFoundError, UnsafeKeyError, ContentMismatch)
}


@dataclass(frozen=True)
class SpreadPlan:
    """When a transfer may add worker processes: at most `processes` processes in all, the caller's included;
    one is added while the caller's process kept at least `busy` of a core busy over the last `window` seconds,
    at least `spare` of a core was idle, and at least `min_remaining` jobs wait.

    SpreadPlan(processes=1)                      # never: every job on the caller's threads
    SpreadPlan(processes=2, busy=0, spare=0)     # a worker as soon as the first window has passed
    """

    processes: int = 1
    busy: float = 0.85
    spare: float = 0.5
    min_remaining: int = 500
    window: float = 0.25

    def should_start(self, *, busy: float, spare: float, remaining: int, workers: int) -> bool:
        """True when one more worker process should join, `workers` having joined already."""
        return (
            1 + workers < self.processes
            and remaining >= self.min_remaining
            and busy >= self.busy
            and spare >= self.spare
        )


def plan_from(environ: Mapping[str, str] | None = None, *, cores: float | None = None) -> SpreadPlan:
    """The SpreadPlan MLDOCK_TRANSFER_PROCESSES sets in `environ` (os.environ when None): unset, empty or
    `auto` gives the usable cores (`cores`, measured when None), at most AUTO_PROCESSES; a whole number from 1
    to MAX_PROCESSES gives that many. Anything else is a UserError naming the variable."""
    env = os.environ if environ is None else environ
    value = env.get(TRANSFER_PROCESSES)
    text = "" if value is None else value.strip()
    if text.lower() in ("", "auto"):
        available = usable_cores() if cores is None else cores
        return SpreadPlan(processes=max(1, min(AUTO_PROCESSES, int(available))))
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PROCESSES:
        raise UserError(
            f"{TRANSFER_PROCESSES}: {text[:40]!r} is not 'auto' or a whole number of processes from 1 to "
            f"{MAX_PROCESSES} (1 keeps transfers in one process)"
        )
    return SpreadPlan(processes=int(text))


class JobQueue(Generic[T]):
    """The jobs still to start, shared by threads and worker feeders; once closed it hands out nothing."""

    def __init__(self, jobs: Iterable[T]) -> None:
        self._jobs = deque(jobs)
        self._lock = threading.Lock()
        self._closed = False

    def take(self, count: int = 1) -> list[T]:
        """Up to `count` jobs; [] when none are left or the queue is closed."""
        with self._lock:
            if self._closed:
                return []
            return [self._jobs.popleft() for _ in range(min(count, len(self._jobs)))]

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __len__(self) -> int:
        return len(self._jobs)


class _Source(Protocol[T]):
    def take(self, count: int = 1) -> list[T]: ...

    def close(self) -> None: ...


def run_pulling(fn: Callable[[T], R], source: _Source[T], threads: int) -> list[R]:
    """`fn(job)` for every job `source` hands out, on `threads` threads; the first failure closes the source
    (what is in flight finishes) and is raised. Ctrl-C while waiting closes it too."""
    results: list[R] = []
    failures: list[BaseException] = []

    def pull() -> None:
        while True:
            got = source.take()
            if not got:
                return
            try:
                results.append(fn(got[0]))
            except BaseException as exc:  # handed to the caller's thread below
                failures.append(exc)
                source.close()
                return

    pullers = [threading.Thread(target=pull, name="mldock-transfer") for _ in range(max(1, threads))]
    for puller in pullers:
        puller.start()
    try:
        for puller in pullers:
            puller.join()
    except BaseException:
        source.close()
        raise
    if failures:
        raise failures[0]
    return results


@dataclass(frozen=True)
class WorkerJobs(Generic[T]):
    """What worker processes need: `setup`, the first message (how to make the remote: may hold secrets, so it
    goes over the worker's stdin only); `encode`, one job as JSON; `progress`, called with the bytes of every
    job a worker finishes."""

    setup: Mapping[str, Any]
    encode: Callable[[T], Any]
    progress: Callable[[int], None]


def error_message(exc: BaseException) -> dict[str, str]:
    """The worker's report of a failed job: the error's type and its message."""
    return {"error": type(exc).__name__, "message": str(exc)}


def error_from(message: Mapping[str, Any], where: str) -> StorageError:
    """The StorageError a worker's error report stands for (its own type when it is a storage error)."""
    kind = str(message.get("error", ""))
    text = str(message.get("message", ""))
    if kind in _ERRORS:
        return _ERRORS[kind](text)
    return StorageError(f"{where}: a transfer worker process failed: {kind}: {text}")


def _worker_command() -> list[str]:
    """Runs mldock.storage.worker from the same mldock as the caller's (an editable or PYTHONPATH copy too)."""
    root = str(Path(mldock.__file__).resolve().parent.parent)
    boot = (
        "import sys\n"
        f"root = {root!r}\n"
        "if root not in sys.path: sys.path.insert(0, root)\n"
        "from mldock.storage.worker import main\n"
        "sys.exit(main())\n"
    )
    return [sys.executable, "-c", boot]


class _Worker(Generic[T]):
    """One worker process and the thread that answers it."""

    def __init__(self, queue: JobQueue[T], jobs: WorkerJobs[T], where: str) -> None:
        self._queue = queue
        self._jobs = jobs
        self._where = where
        self.outstanding: dict[int, T] = {}
        self.moved: list[int] = []
        self.error: StorageError | None = None
        self._next_id = 0
        self.process = subprocess.Popen(_worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._answering = threading.Thread(target=self._answer, name="mldock-transfer-worker", daemon=True)
        self._answering.start()

    def _send(self, stdin: IO[bytes], message: Mapping[str, Any]) -> None:
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()

    def _answer(self) -> None:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            self._send(stdin, {"setup": dict(self._jobs.setup)})
            for line in stdout:
                message = json.loads(line)
                if "want" in message:
                    batch = self._queue.take(max(1, min(int(message["want"]), BATCH)))
                    ids = list(range(self._next_id, self._next_id + len(batch)))
                    self._next_id += len(batch)
                    self.outstanding.update(zip(ids, batch, strict=True))
                    if batch:
                        encoded = [[i, self._jobs.encode(job)] for i, job in zip(ids, batch, strict=True)]
                        self._send(stdin, {"jobs": encoded})
                    else:
                        self._send(stdin, {"end": True})
                elif "done" in message:
                    self.outstanding.pop(int(message["done"]), None)
                    self.moved.append(int(message["bytes"]))
                    self._jobs.progress(int(message["bytes"]))
                elif "error" in message:
                    self.error = error_from(message, self._where)
                    self._queue.close()
        except (OSError, ValueError, TypeError, KeyError):  # the worker died or garbled its answer
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Close the worker's stdin: it finishes what is in flight and exits."""
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()

    def wait(self, timeout: float) -> None:
        """Wait for the worker to exit (killing it after `timeout` seconds) and for its last answers."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._answering.join()
        if self.process.stdout is not None:
            self.process.stdout.close()


class _Pool(Generic[T]):
    """The worker processes one transfer started, and the watcher that starts them."""

    def __init__(self, queue: JobQueue[T], jobs: WorkerJobs[T], plan: SpreadPlan, where: str) -> None:
        self._queue = queue
        self._jobs = jobs
        self._plan = plan
        self._where = where
        self.workers: list[_Worker[T]] = []
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._watching = threading.Thread(target=self._watch, name="mldock-transfer-watch", daemon=True)
        self._watching.start()

    def _watch(self) -> None:
        gauge = CpuGauge()
        while not self._done.wait(self._plan.window):
            busy, spare = gauge.sample()
            with self._lock:
                if self._done.is_set() or not self._plan.should_start(
                    busy=busy, spare=spare, remaining=len(self._queue), workers=len(self.workers)
                ):
                    continue
                try:
                    self.workers.append(_Worker(self._queue, self._jobs, self._where))
                except OSError:  # no interpreter to start: the caller's threads do it all
                    return
            gauge.sample()  # the next window starts with the worker running

    def finish(self, grace: float) -> None:
        """Stop starting workers, tell the running ones to stop, and wait for them (at most `grace` seconds)."""
        with self._lock:
            self._done.set()
        self._watching.join()
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.wait(grace)


@dataclass(frozen=True)
class Spread:
    """What `spread` did: what each job moved, how many processes took part (the caller's included), and how
    many jobs the caller did again because the worker that had taken them died (its temporary files remain)."""

    moved: list[int]
    processes: int = 1
    redone: int = 0


def spread(
    fn: Callable[[T], int],
    jobs: Sequence[T],
    *,
    threads: int,
    plan: SpreadPlan,
    workers: WorkerJobs[T] | None,
    where: str,
) -> Spread:
    """`fn(job)` for every job on `threads` threads, worker processes joining as `plan` says (none when
    `workers` is None). The first failure, the caller's own or a worker's, is raised (`where` names the
    transfer in a worker's unexpected error)."""
    queue = JobQueue(jobs)
    if workers is None or plan.processes <= 1 or len(jobs) < plan.min_remaining:
        return Spread(run_pulling(fn, queue, threads))
    pool = _Pool(queue, workers, plan, where)
    try:
        moved = run_pulling(fn, queue, threads)
    except Exception:  # a failure of the caller's own: what the workers have in flight may finish
        pool.finish(WORKER_GRACE)
        raise
    except BaseException:  # Ctrl-C, SIGTERM's Terminated: the workers go at once
        pool.finish(0.0)
        raise
    pool.finish(WORKER_GRACE)
    for worker in pool.workers:
        if worker.error is not None:
            raise worker.error
    lost = [job for worker in pool.workers for job in worker.outstanding.values()]
    moved += run_pulling(fn, JobQueue(lost), threads)  # a worker that died without finishing them
    moved += [size for worker in pool.workers for size in worker.moved]
    return Spread(moved, 1 + len(pool.workers), len(lost))
