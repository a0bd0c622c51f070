"""The serving task: setup → listen → startup() and the predictor in a thread → serve → graceful stop → cleanup().

    code = run(os.environ)          # what `mldock-entrypoint serve` does; returns the exit code

The HTTP server (waitress, running mldock.runtime.prediction_app) listens before startup() begins, so /ping
can answer 503 while the model downloads. Settings and their defaults: mldock.contract.

Health checks stay answerable:
- Health requests (GET or HEAD on `/ping`, `AIP_HEALTH_ROUTE`, Azure ML's liveness `/`, SageMaker's
  `/execution-parameters`) and the errors waitress answers itself (malformed or oversized requests) run on two
  threads of their own, so they never queue behind predictions (a POST on a route that is both health and
  predict is a prediction); predictions run on the `MLDOCK_SERVE_THREADS` workers exactly as before (one
  request at a time per connection, in order).
- A request has `MLDOCK_SERVE_HEADER_TIMEOUT` seconds from its first byte to the end of its headers and
  `MLDOCK_SERVE_BODY_TIMEOUT` from there to the end of its body; otherwise it is answered 408 and its
  connection closed. A keep-alive connection silent for `MLDOCK_SERVE_IDLE_TIMEOUT` is closed.
- Past `MLDOCK_SERVE_CONNECTION_LIMIT` open connections a new one is still accepted, and the connection that
  has waited longest without a request in service is closed to make room: one whose request is still arriving
  first, then an idle keep-alive one, then one whose answer is still being sent. A connection with a request
  queued or running is never closed for this; when every connection has one, up to `RESERVE_CONNECTIONS` more
  are accepted (room for health checks), then accepting pauses until one closes.
- waitress's "Task queue depth" warning (one line per queued request under load) and mldock's notes about
  closed connections pass at most once per `LOG_INTERVAL` seconds each, with the count of lines held back.

Stop (SIGTERM/SIGINT): stop accepting connections, wait up to the grace period (`MLDOCK_STOP_GRACE_SECONDS`,
default 20; under a stop deadline at most half of it less a margin: 12.5 s on a SageMaker endpoint, whose
deadline is 30 s, see mldock.runtime.lifecycle.StopBudget) for requests in flight (queued, running, still
arriving, or answered but not yet sent), close,
run cleanup(), exit 0. When the grace expires with requests still in flight, they are dropped: an error line
says how many, their connections close, cleanup() still runs, and the exit code is 128 + the signal (143 for
SIGTERM) with a failure file saying so. A failing startup() or predictor constructor stops the server and exits
with that failure's code (no cleanup, like training). A signal that arrives while startup() is still running
waits up to the grace period for it, then exits 128 + signal without cleanup.
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mldock import contract
from mldock.runtime.failure import EXIT_OK, Failure, signal_exit_code, signal_reason
from mldock.runtime.lifecycle import Setup, Signals, StopBudget, report_failure, run_cleanup, setup, signal_failure
from mldock.runtime.loader import import_target
from mldock.runtime.prediction_app import PredictionApp, ServeConfig

__all__ = ["HEALTH_THREADS", "LOG_INTERVAL", "RESERVE_CONNECTIONS", "RateLimitFilter", "run"]

logger = logging.getLogger("mldock")
connections_log = logging.getLogger("mldock.serve.connections")

HEALTH_THREADS = 2
"""Threads that answer health checks (and waitress's own error answers), apart from the prediction workers."""
RESERVE_CONNECTIONS = 16
"""Connections accepted past the limit while every open connection has a request queued or running."""
LOG_INTERVAL = 10.0
"""Seconds between two lines of one rate-limited kind (waitress's queue depth, closed connections)."""

_POLL_SECONDS = 0.1
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 26\r\n\r\nthe request took too long\n"
)


def run(environ: Mapping[str, str]) -> int:
    """Serve for `environ` (the container's variables) until SIGTERM/SIGINT or a startup failure; the exit code."""
    prepared = setup("serve", environ)
    if isinstance(prepared, int):
        return prepared
    with _rate_limited_logs():
        return _serve(prepared, environ)


def _serve(prepared: Setup, environ: Mapping[str, str]) -> int:
    env = prepared.env
    try:
        config = ServeConfig.from_env(env, environ)
        budget = StopBudget.from_env(env, environ, "serve")
        app = PredictionApp(config)
        server = _create_server(app, config)
    except Exception as exc:
        return report_failure(Failure.from_exception(exc, "serve"), env.failure_file, environ)
    logger.info(
        "serve: listening on %s:%s (health %s, predict %s, liveness %s)",
        server.effective_host,
        server.effective_port,
        ", ".join(sorted(config.health_routes)),
        ", ".join(sorted(config.predict_routes)),
        ", ".join(sorted(config.liveness_routes)),
    )
    loop = threading.Thread(target=server.run, name="mldock-http", daemon=True)
    loop.start()

    failed = threading.Event()
    failures: list[Failure] = []

    def start() -> None:
        started = time.monotonic()
        try:
            logger.info("startup: begin")
            prepared.container.startup()
            handler = import_target(prepared.target)
            app.set_predictor(handler(env))
            logger.info("startup: done in %.2fs; %s is ready", time.monotonic() - started, prepared.target)
        except Exception as exc:
            failures.append(Failure.from_exception(exc, "startup"))
            failed.set()

    starter = threading.Thread(target=start, name="mldock-startup", daemon=True)
    signals = Signals()
    with signals.installed():
        starter.start()
        while not (signals.arrived.wait(_POLL_SECONDS) or failed.is_set()):
            pass
        if signals.first is not None:
            logger.info("serve: shutting down after %s", signal.Signals(signals.first).name)
        dropped = _shutdown(server, budget.grace)
        loop.join(timeout=5)
    starter.join(timeout=budget.grace)
    signum = signals.first if signals.first is not None else signal.SIGTERM
    if failures:
        return report_failure(failures[0], env.failure_file, environ)
    if not app.ready:
        stopped = signal_failure(signum, "startup", "startup did not finish; no cleanup")
        return report_failure(stopped, env.failure_file, environ)
    failure = None
    if dropped:
        reason = (
            f"{signal_reason(signum)}: {dropped} request(s) still in flight after the "
            f"{budget.grace:g}s stop grace were dropped"
        )
        failure = Failure(reason, "shutdown", signal_exit_code(signum))
    failure = run_cleanup(prepared.container, failure, signals=signals, budget=budget)
    if failure is not None:
        return report_failure(failure, env.failure_file, environ)
    return EXIT_OK


# -- the server -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    connections: int
    header_timeout: float
    body_timeout: float


def _create_server(app: PredictionApp, config: ServeConfig) -> Any:
    from waitress.adjustments import Adjustments  # optional third-party: only serving loads it
    from waitress.task import ThreadedTaskDispatcher

    adjustments = Adjustments(
        host=config.host,
        port=config.port,
        threads=config.threads,
        max_request_body_size=config.max_body_bytes,
        ident="mldock",
        # waitress counts its listening socket and its trigger as connections too
        connection_limit=config.connection_limit + RESERVE_CONNECTIONS + 2,
        channel_timeout=max(1, math.ceil(config.idle_timeout)),
        cleanup_interval=1,  # how often the idle and header/body timeouts are checked
        asyncore_use_poll=True,  # select() stops at 1024 descriptors
    )
    workers, health = ThreadedTaskDispatcher(), ThreadedTaskDispatcher()
    workers.set_thread_count(config.threads)
    health.set_thread_count(HEALTH_THREADS)
    quick_routes = config.health_routes | config.liveness_routes | {contract.SAGEMAKER_EXECUTION_PARAMETERS_ROUTE}
    dispatcher = _Dispatcher(workers, health, quick_routes)
    limits = _Limits(config.connection_limit, config.header_timeout, config.body_timeout)
    return _server_class()(app, limits, dispatcher=dispatcher, adj=adjustments)


class _Dispatcher:
    """waitress's task dispatcher, split in two: quick answers on their own threads, predictions on the workers.

    waitress hands over a connection (its "task") once the connection's next request has fully arrived
    (`channel.requests[0]`), and hands it over again for the request after only when that one is answered, so
    a connection's requests keep their order whichever pool answers them.
    """

    def __init__(self, workers: Any, health: Any, health_routes: frozenset[str]) -> None:
        self.workers, self.health, self._routes = workers, health, health_routes

    def add_task(self, channel: Any) -> None:
        requests = channel.requests
        quick = bool(requests) and (
            requests[0].error is not None
            or (requests[0].path in self._routes and requests[0].command in ("GET", "HEAD"))
        )
        if quick:
            self.health.add_task(channel)
            return
        self.workers.add_task(channel)
        # Hand the GIL over (sleep(0) releases it): the loop thread that calls this would otherwise keep it until
        # its next system call or the interpreter's 5 ms switch interval while the woken worker waits. Under 32
        # keep-alive clients on 2 cores that wait halved throughput (1,600-1,900 requests/s against 5,000-5,400;
        # benchmarks/serving.py); plain waitress escapes it only by writing a queue-depth warning per request.
        time.sleep(0)

    def busy(self) -> int:
        """Tasks running or queued in either pool."""
        return sum(len(pool.queue) + pool.active_count for pool in (self.workers, self.health))

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        done: bool = self.workers.shutdown(cancel_pending=cancel_pending, timeout=timeout)
        return bool(self.health.shutdown(cancel_pending=cancel_pending, timeout=min(timeout, 1))) and done


@functools.cache
def _server_class() -> type[Any]:
    """waitress's TCP server with the connection guard (built on first use: importing the runtime loads no waitress)."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.server import TcpWSGIServer

    class TimedParser(HTTPRequestParser):  # type: ignore[misc]
        """A request being received, with when its first byte and the end of its headers arrived."""

        def __init__(self, adj: Any) -> None:
            super().__init__(adj)
            self.started = time.monotonic()
            self.headers_done: float | None = None

        def received(self, data: bytes) -> int:
            consumed: int = super().received(data)
            if self.headers_done is None and self.headers_finished:
                self.headers_done = time.monotonic()
            return consumed

    class GuardedChannel(HTTPChannel):  # type: ignore[misc]
        parser_class = TimedParser

        def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
            super().__init__(server, sock, addr, adj, map)
            server.admitted(self)

    class GuardedServer(TcpWSGIServer):  # type: ignore[misc]
        channel_class = GuardedChannel

        def __init__(self, application: Any, limits: _Limits, **kwargs: Any) -> None:
            self.limits = limits
            super().__init__(application, **kwargs)

        def admitted(self, channel: Any) -> None:
            _close_over_limit(_channels(self), channel, self.limits.connections)

        def maintenance(self, now: float) -> None:
            super().maintenance(now)
            self.guard()

        def guard(self) -> None:
            """Answer 408 to requests past their header/body deadline (runs in the server's loop thread)."""
            _close_late(_channels(self), self.limits, time.monotonic())

    return GuardedServer


def _channels(server: Any) -> list[Any]:
    """The server's open connections (a copy: the loop thread adds and removes them)."""
    return list(server.active_channels.copy().values())


def _closing(channel: Any) -> bool:
    return bool(channel.will_close or channel.close_when_flushed)


def _eviction_order(channel: Any) -> tuple[int, float]:
    """Which connection goes first past the limit: a request still arriving (oldest first), then idle ones."""
    if channel.request is not None:
        return 0, float(getattr(channel.request, "started", 0.0))
    return (2 if channel.total_outbufs_len else 1), float(channel.last_activity)


def _evictions(channels: list[Any], newest: Any, limit: int) -> list[Any]:
    """The connections to close so that at most `limit` stay open; never one with a request queued or running."""
    open_channels = [channel for channel in channels if not _closing(channel)]
    excess = len(open_channels) - limit
    if excess <= 0:
        return []
    candidates = [channel for channel in open_channels if channel is not newest and not channel.requests]
    return sorted(candidates, key=_eviction_order)[:excess]


def _close_over_limit(channels: list[Any], newest: Any, limit: int) -> None:
    victims = _evictions(channels, newest, limit)
    for channel in victims:
        channel.will_close = True
    if victims:
        connections_log.warning(
            "serve: over the connection limit of %d: closed %d connection(s) without a request in service",
            limit,
            len(victims),
        )


def _late(channel: Any, limits: _Limits, now: float) -> bool:
    """True when the request arriving on `channel` missed its header or body deadline."""
    request = channel.request
    if request is None or channel.requests or _closing(channel):
        return False
    headers_done = getattr(request, "headers_done", None)
    if headers_done is None:
        return now - float(getattr(request, "started", now)) > limits.header_timeout
    return now - float(headers_done) > limits.body_timeout


def _close_late(channels: list[Any], limits: _Limits, now: float) -> None:
    late = [channel for channel in channels if _late(channel, limits, now)]
    for channel in late:
        try:
            channel.write_soon(_TIMEOUT_ANSWER)
        except Exception:  # the client is gone already (waitress's ClientDisconnected)
            channel.will_close = True
        with channel.requests_lock:
            channel.request = None
            channel.close_when_flushed = True
    if late:
        connections_log.warning(
            "serve: answered 408 and closed %d connection(s): headers not in within %gs or body within %gs",
            len(late),
            limits.header_timeout,
            limits.body_timeout,
        )


def _in_flight(channels: list[Any]) -> int:
    """Requests a client still waits for: queued or running, still arriving, or answered but not yet sent."""
    count = 0
    for channel in channels:
        if channel.requests:
            count += len(channel.requests)
        elif channel.request is not None or channel.total_outbufs_len:
            count += 1
    return count


def _shutdown(server: Any, grace: float) -> int:
    """Stop accepting, wait up to `grace` seconds for requests in flight, close every connection.

    Returns how many requests were still in flight when the grace expired (dropped).
    """
    from waitress import wasyncore  # optional third-party, loaded with the server (see _create_server)

    def stop_accepting() -> None:
        server.accepting = False
        wasyncore.dispatcher.close(server)  # the listening socket only; the trigger stays open

    server.trigger.pull_trigger(stop_accepting)
    deadline = time.monotonic() + grace
    while True:
        server.trigger.pull_trigger(server.guard)  # the server's own maintenance stopped with its socket
        pending, running = _in_flight(_channels(server)), server.task_dispatcher.busy()
        if not (pending or running) or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS)
    if pending:
        logger.error("serve: %d request(s) still in flight after the %gs stop grace; dropping them", pending, grace)
    elif running:
        logger.warning("serve: %d prediction(s) whose client has gone still running after %gs", running, grace)
    _close_all(server, wasyncore)
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
    logger.info("serve: server stopped")
    return pending


def _close_all(server: Any, wasyncore: Any) -> None:
    """Close every connection and the trigger, in the loop thread.

    waitress's `pull_trigger(thunk)` queues the thunk, then writes the wake-up byte. A loop thread woken by an
    earlier pull can run the queued thunk before that write; this thunk closes the trigger, so the write fails
    with EBADF although all is closed (1 start in 60 whose startup failed, under load, crashed so).
    """
    try:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise


# -- log noise ------------------------------------------------------------------------------------------


class RateLimitFilter(logging.Filter):
    """Let one record per message template through every `interval` seconds; the next one says how many were held.

    logging.getLogger("waitress.queue").addFilter(RateLimitFilter(10.0))
    # "Task queue depth is 7 (and 1,532 more like it since the last one)"
    """

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[tuple[str, object], float] = {}
        self._held: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = self._clock()
        with self._lock:
            if key in self._next and now < self._next[key]:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._next[key] = now + self.interval
            held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.getMessage()} (and {held:,} more like it since the last one)"
            record.args = None
        return True


@contextmanager
def _rate_limited_logs() -> Iterator[None]:
    """Rate-limit waitress's queue-depth warning and mldock's connection notes while the block runs."""
    filters = [
        (logging.getLogger(name), RateLimitFilter(LOG_INTERVAL)) for name in ("waitress.queue", connections_log.name)
    ]
    for log, rate_limit in filters:
        log.addFilter(rate_limit)
    try:
        yield
    finally:
        for log, rate_limit in filters:
            log.removeFilter(rate_limit)
