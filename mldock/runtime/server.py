"""Run the serving lifecycle: listen → startup() and the predictor in a thread → serve → graceful stop → cleanup().

    code = serve(setup("serve", os.environ), os.environ)      # what `mldock-entrypoint serve` does

The HTTP server (waitress, imported here only) listens before startup() begins, so /ping can answer 503 while
the model downloads. SIGTERM/SIGINT: stop accepting connections, wait up to the grace period for in-flight
requests, close, run cleanup(), exit 0. A failing startup() or predictor constructor stops the server and
exits with that failure's code (no cleanup, like training). A signal that arrives while startup() is still
running waits up to the grace period for it, then exits 128 + signal without cleanup.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

from mldock.runtime.entrypoint import Setup, report_failure
from mldock.runtime.failure import EXIT_OK, Failure, signal_exit_code, signal_reason
from mldock.runtime.loader import import_target
from mldock.runtime.serving import PredictionApp, ServeConfig

__all__ = ["serve"]

logger = logging.getLogger("mldock")

_POLL_SECONDS = 0.1


def serve(prepared: Setup, environ: Mapping[str, str]) -> int:
    """Serve until SIGTERM/SIGINT or a startup failure; returns the exit code."""
    env = prepared.env
    try:
        config = ServeConfig.from_env(env, environ)
        import waitress

        app = PredictionApp(config)
        server: Any = waitress.create_server(
            app,
            host=config.host,
            port=config.port,
            threads=config.threads,
            max_request_body_size=config.max_body_bytes,
            ident="mldock",
        )
    except Exception as exc:
        return report_failure(Failure.from_exception(exc, "serve"), env.failure_file, environ)
    logger.info(
        "serve: listening on %s:%s (health %s, predict %s)",
        server.effective_host,
        server.effective_port,
        ", ".join(sorted(config.health_routes)),
        ", ".join(sorted(config.predict_routes)),
    )
    loop = threading.Thread(target=server.run, name="mldock-http", daemon=True)
    loop.start()

    stop = threading.Event()
    received: list[int] = []
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
            stop.set()

    starter = threading.Thread(target=start, name="mldock-startup", daemon=True)
    previous = _install(stop, received)
    try:
        starter.start()
        while not stop.wait(_POLL_SECONDS):
            pass
        _shutdown(server, config.grace_seconds)
        loop.join(timeout=config.grace_seconds + 5)
    finally:
        _restore(previous)
    starter.join(timeout=config.grace_seconds)
    if failures:
        return report_failure(failures[0], env.failure_file, environ)
    if not app.ready:
        signum = received[0] if received else signal.SIGTERM
        reason = signal_reason(signum)
        failure = Failure(reason, "startup", signal_exit_code(signum), "startup did not finish; no cleanup")
        return report_failure(failure, env.failure_file, environ)
    logger.info("cleanup: begin")
    started = time.monotonic()
    try:
        prepared.container.cleanup()
    except Exception as exc:
        return report_failure(Failure.from_exception(exc, "cleanup"), env.failure_file, environ)
    logger.info("cleanup: done in %.2fs", time.monotonic() - started)
    return EXIT_OK


def _install(stop: threading.Event, received: list[int]) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum: int, _frame: FrameType | None) -> None:
        logger.warning("received %s; shutting down", signal.Signals(signum).name)
        received.append(signum)
        stop.set()

    return {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _shutdown(server: Any, grace: float) -> None:
    """Stop accepting, wait up to `grace` seconds for in-flight requests, then close every connection."""
    from waitress import wasyncore

    def stop_accepting() -> None:
        server.accepting = False
        wasyncore.dispatcher.close(server)  # the listening socket only; the trigger stays open

    server.trigger.pull_trigger(stop_accepting)
    deadline = time.monotonic() + grace
    while not _idle(server) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    if not _idle(server):
        logger.warning("serve: requests still running after %.0fs; closing anyway", grace)
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
    logger.info("serve: server stopped")


def _idle(server: Any) -> bool:
    dispatcher = server.task_dispatcher
    if dispatcher.queue or dispatcher.active_count:
        return False
    for channel in list(server.active_channels.values()):
        if channel.requests or channel.total_outbufs_len or getattr(channel, "request", None) is not None:
            return False
    return True
