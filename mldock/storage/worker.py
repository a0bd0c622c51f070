"""A transfer worker process: downloads the batches of small objects its caller hands it (mldock.storage.spread).

Started by `spread` as `python -c ... mldock.storage.worker.main()`, never by a user. It reads its setup from
stdin (`{"setup": {"uri": ..., "environ": {...} or null, "threads": n, "attempts": n}}`: the remote is made
from those settings, `environ` None meaning this process's environment, which is the caller's), then asks for
jobs (`{"want": n}`) and downloads each (`[id, [key, rel, size, md5, target]]`, the target a path the caller
has already checked) exactly as the caller would: through a temporary file, verified, retried. It reports
`{"done": id, "bytes": n}` per file and, for a file that failed after its retries, `{"error": ..., "message":
...}`, then asks for nothing more. It stops when its jobs are done and stdin says `{"end": true}` or closes
(the caller ended or died). Ctrl-C is the caller's to handle: the worker ignores SIGINT.
"""

from __future__ import annotations

import json
import queue
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

from mldock.storage.blob import BlobRemote, Listed, Progress
from mldock.storage.registry import remote_for
from mldock.storage.spread import BATCH, error_message
from mldock.storage.uri import RemoteURI, parse_uri

__all__ = ["decode_job", "main"]

Job = tuple[int, Listed, Path]


def decode_job(entry: Any) -> Job:
    """(id, object, target) from `[id, [key, rel, size, md5, target]]`; ValueError when it is not one."""
    ident, (key, rel, size, md5, target) = entry
    if not (type(ident) is int and type(size) is int and size >= 0):
        raise ValueError(f"not a job: {entry!r}")
    if not (isinstance(key, str) and isinstance(rel, str) and isinstance(target, str)):
        raise ValueError(f"not a job: {entry!r}")
    if md5 is not None and not isinstance(md5, str):
        raise ValueError(f"not a job: {entry!r}")
    return ident, Listed(key, rel, size, md5), Path(target)


class _Channel:
    """The worker's side of the pipe pair: JSON lines in from stdin, out to stdout (one writer at a time)."""

    def __init__(self, reader: IO[bytes], writer: IO[bytes]) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = threading.Lock()

    def receive(self) -> dict[str, Any] | None:
        """The next message, or None when stdin has closed."""
        line = self._reader.readline()
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError(f"not a message: {line[:80]!r}")
        return message

    def send(self, message: Mapping[str, Any]) -> bool:
        """Write one message; False when the caller is gone."""
        try:
            with self._lock:
                self._writer.write(json.dumps(message).encode() + b"\n")
                self._writer.flush()
        except (BrokenPipeError, ValueError):
            return False
        return True


class _Feed:
    """Keeps a local queue of jobs topped up from the caller: asks for a batch whenever fewer than `low` wait."""

    def __init__(self, channel: _Channel, threads: int) -> None:
        self._channel = channel
        self._threads = threads
        self._low = threads
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self._waiting = 0
        self._stopped = False
        self._changed = threading.Condition()

    def run(self) -> None:
        """Ask, receive, repeat; at the end one stop mark per thread."""
        try:
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._stopped or self._waiting < self._low)
                    if self._stopped:
                        return
                if not self._channel.send({"want": BATCH}):
                    return
                try:
                    message = self._channel.receive()
                except ValueError as exc:
                    print(f"mldock transfer worker: unusable message from the caller: {exc}", file=sys.stderr)
                    return
                if message is None or "jobs" not in message:
                    return
                try:
                    batch = [decode_job(entry) for entry in message["jobs"]]
                except (ValueError, TypeError) as exc:
                    print(f"mldock transfer worker: unusable jobs from the caller: {exc}", file=sys.stderr)
                    return
                with self._changed:
                    self._waiting += len(batch)
                for job in batch:
                    self.jobs.put(job)
        finally:
            for _ in range(self._threads):
                self.jobs.put(None)

    def take(self) -> Job | None:
        job = self.jobs.get()
        with self._changed:
            if job is not None:
                self._waiting -= 1
            self._changed.notify_all()
            return None if self._stopped else job

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()


def serve(channel: _Channel) -> int:
    """Run one worker over `channel`; 0 when every job handed over was done, 1 when one failed."""
    first = channel.receive()
    if first is None:
        return 0
    setup = first["setup"]
    threads = max(1, int(setup.get("threads", 1)))
    try:
        uri: RemoteURI = parse_uri(str(setup["uri"]))
        environ = setup.get("environ")
        remote = cast(BlobRemote, remote_for(uri, None if environ is None else dict(environ)))
    except Exception as exc:  # the SDK will not load here, a setting is refused: the caller raises it
        channel.send(error_message(exc))
        return 1
    remote.max_concurrency = threads  # before its client is made: one pooled connection per thread
    remote.attempts = max(1, int(setup.get("attempts", remote.attempts)))
    feed = _Feed(channel, threads)
    failed = threading.Event()
    quiet = Progress(None)

    def download() -> None:
        while (job := feed.take()) is not None:
            ident, item, target = job
            try:
                moved = remote.fetch_with_retry(uri, item, target, quiet)
            except Exception as exc:
                failed.set()
                feed.stop()
                channel.send(error_message(exc))
                return
            if not channel.send({"done": ident, "bytes": moved}):
                feed.stop()
                return

    fetching = threading.Thread(target=feed.run, name="mldock-worker-feed", daemon=True)
    fetching.start()
    pool = [threading.Thread(target=download, name="mldock-worker") for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return 1 if failed.is_set() else 0


def main() -> int:
    """The worker's entry: serve stdin/stdout; a garbled setup or job is exit code 2, with one line on stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return serve(_Channel(sys.stdin.buffer, sys.stdout.buffer))
    except (ValueError, KeyError, TypeError) as exc:
        print(f"mldock transfer worker: unusable message from the caller: {exc}", file=sys.stderr)
        return 2
