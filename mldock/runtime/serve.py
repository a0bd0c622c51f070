"""The serving task: setup → listen → startup() and the predictor in a thread → serve → graceful stop → cleanup().

    code = run(os.environ)          # what `mldock-entrypoint serve` does; returns the exit code

The HTTP server (waitress, running mldock.runtime.prediction_app) listens before startup() begins, so /ping
can answer 503 while the model downloads. SIGTERM/SIGINT: stop accepting connections, wait up to the grace
period (`MLDOCK_STOP_GRACE_SECONDS`, default 20) for in-flight requests, close, run cleanup(), exit 0. A
failing startup() or predictor constructor stops the server and exits with that failure's code (no cleanup,
like training). A signal that arrives while startup() is still running waits up to the grace period for it,
then exits 128 + signal without cleanup.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

from mldock.runtime.failure import EXIT_OK, Failure
from mldock.runtime.lifecycle import Setup, Signals, report_failure, run_cleanup, setup, signal_failure
from mldock.runtime.loader import import_target
from mldock.runtime.prediction_app import PredictionApp, ServeConfig

__all__ = ["run"]

logger = logging.getLogger("mldock")

_POLL_SECONDS = 0.1


def run(environ: Mapping[str, str]) -> int:
    """Serve for `environ` (the container's variables) until SIGTERM/SIGINT or a startup failure; the exit code."""
    prepared = setup("serve", environ)
    if isinstance(prepared, int):
        return prepared
    return _serve(prepared, environ)


def _serve(prepared: Setup, environ: Mapping[str, str]) -> int:
    env = prepared.env
    try:
        config = ServeConfig.from_env(env, environ)
        app = PredictionApp(config)
        server = _create_server(app, config)
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
        _shutdown(server, config.grace_seconds)
        loop.join(timeout=config.grace_seconds + 5)
    starter.join(timeout=config.grace_seconds)
    if failures:
        return report_failure(failures[0], env.failure_file, environ)
    if not app.ready:
        signum = signals.first if signals.first is not None else signal.SIGTERM
        stopped = signal_failure(signum, "startup", "startup did not finish; no cleanup")
        return report_failure(stopped, env.failure_file, environ)
    cleanup_failure = run_cleanup(prepared.container, None)
    if cleanup_failure is not None:
        return report_failure(cleanup_failure, env.failure_file, environ)
    return EXIT_OK


def _create_server(app: PredictionApp, config: ServeConfig) -> Any:
    import waitress  # optional third-party: only serving needs it, and importing the runtime must not load it

    return waitress.create_server(
        app,
        host=config.host,
        port=config.port,
        threads=config.threads,
        max_request_body_size=config.max_body_bytes,
        ident="mldock",
    )


def _shutdown(server: Any, grace: float) -> None:
    """Stop accepting, wait up to `grace` seconds for in-flight requests, then close every connection."""
    from waitress import wasyncore  # optional third-party, loaded with the server (see _create_server)

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
