"""Remove what mldock starts: at the end of a session (also after Ctrl-C or SIGTERM), and at the next start
after a session that was killed outright.

    tracker = ResourceTracker(client, labels={RUN_LABEL: run_id})
    net = tracker.network(client.networks.create("n", labels=tracker.labels))
    box = tracker.container(client.containers.run(image, detach=True, labels=tracker.labels, network=net.name))
    ...
    tracker.close()                      # or `with ResourceTracker(...) as tracker:`

    sweep_stale(client)                  # at the start of every build/run: removes leftovers of dead owners
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mldock.engine.connect import clone_client
from mldock.engine.errors import engine_errors
from mldock.engine.labels import managed_filter, owner_alive, resource_labels, session_id
from mldock.errors import EngineError

if TYPE_CHECKING:
    import docker
    from typing_extensions import Self

__all__ = ["ResourceTracker", "SweepReport", "remove_resource", "sweep_stale"]

log = logging.getLogger(__name__)

Kind = Literal["container", "network", "volume"]
T = TypeVar("T")


@dataclass
class SweepReport:
    """What `sweep_stale` removed (names or ids)."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)

    def __str__(self) -> str:
        return (
            f"{len(self.containers)} container(s), {len(self.networks)} network(s), {len(self.volumes)} volume(s)"
        )


def sweep_stale(client: docker.DockerClient) -> SweepReport:
    """Remove mldock-labelled containers, networks and volumes whose owner process on this host is gone.

    Housekeeping: a listing the engine refuses is retried, then skipped with a warning (Podman answers 500
    "no such container" when another client removes one while it lists), so a sweep never fails a run.
    """
    report = SweepReport()
    for container in _listing(lambda: client.containers.list(all=True, filters=managed_filter()), "containers"):
        if not owner_alive(container.labels) and remove_resource(client, "container", container.id):
            report.containers.append(container.name)
    for network in _listing(lambda: client.networks.list(filters=managed_filter()), "networks"):
        if not owner_alive(network.attrs.get("Labels")) and remove_resource(client, "network", network.id):
            report.networks.append(network.name)
    for volume in _listing(lambda: client.volumes.list(filters=managed_filter()), "volumes"):
        if not owner_alive(volume.attrs.get("Labels")) and remove_resource(client, "volume", volume.id):
            report.volumes.append(volume.name)
    if report:
        log.info("swept stale mldock resources of dead sessions: %s", report)
    return report


def _listing(list_them: Callable[[], list[Any]], what: str, attempts: int = 3) -> list[Any]:
    for attempt in range(1, attempts + 1):
        try:
            with engine_errors(f"listing mldock's {what}"):
                return list_them()
        except EngineError as exc:
            if attempt == attempts:
                log.warning("sweep skipped %s: %s", what, exc)
                return []
            time.sleep(0.2 * attempt)
    return []


def remove_resource(client: docker.DockerClient, kind: Kind, ident: str) -> bool:
    """Remove one container (killed first), network or volume; False when it was already gone or refused."""
    import docker.errors as de

    try:
        if kind == "container":
            container = client.containers.get(ident)
            if container.status in ("running", "paused", "restarting"):
                with contextlib.suppress(de.APIError):
                    container.kill()
            container.remove(force=True, v=True)
        elif kind == "network":
            network = client.networks.get(ident)
            with contextlib.suppress(de.APIError):
                network.reload()
                for attached in network.containers:
                    network.disconnect(attached, force=True)
            network.remove()
        else:
            client.volumes.get(ident).remove(force=True)
    except de.NotFound:
        return False
    except Exception as exc:  # cleanup must go on with the rest
        log.warning("could not remove %s %s: %s", kind, ident[:12], exc)
        return False
    return True


class ResourceTracker:
    """Removes what a session started on `close()`, at interpreter exit, and on SIGTERM/SIGINT.

        with ResourceTracker(client, labels={"io.mldock.run": "r1"}) as tracker:
            box = tracker.container(client.containers.run(img, detach=True, labels=tracker.labels))
    """

    def __init__(
        self, client: docker.DockerClient, *, labels: Mapping[str, str] | None = None, handle_signals: bool = True
    ) -> None:
        self.client = client
        self.session = session_id()
        self.labels: dict[str, str] = resource_labels(labels, session=self.session)
        self._items: list[tuple[Kind, str]] = []
        self._processes: list[subprocess.Popen[Any]] = []
        self._lock = threading.Lock()
        self._closed = False
        _register(self, handle_signals)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def container(self, container: T) -> T:
        """Track a container (removed, after a kill, on close); returns it."""
        return self._add("container", container)

    def network(self, network: T) -> T:
        """Track a network (its containers disconnected, then removed, on close); returns it."""
        return self._add("network", network)

    def volume(self, volume: T) -> T:
        """Track a volume; returns it."""
        return self._add("volume", volume)

    def process(self, process: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        """Track a child process (terminated, then killed after 5 s, on close); returns it."""
        with self._lock:
            self._processes.append(process)
        _register(self, False)
        return process

    def forget(self, resource: Any) -> None:
        """Stop tracking a resource (the caller removed it, or keeps it on purpose)."""
        ident = getattr(resource, "id", resource)
        with self._lock:
            self._items = [item for item in self._items if item[1] != ident]
            self._processes = [p for p in self._processes if p is not resource]

    def remove(self, resource: Any) -> None:
        """Remove one tracked resource now and forget it."""
        ident = getattr(resource, "id", resource)
        with self._lock:
            kinds = [kind for kind, tracked in self._items if tracked == ident]
        self.forget(resource)
        for kind in kinds:
            remove_resource(self.client, kind, ident)

    def close(self, *, client: docker.DockerClient | None = None) -> None:
        """Remove everything tracked (processes, then containers, then networks and volumes); idempotent."""
        with self._lock:
            items, self._items = self._items, []
            processes, self._processes = self._processes, []
            self._closed = True
        for process in processes:
            _end_process(process)
        order = {"container": 0, "network": 1, "volume": 2}
        for kind, ident in sorted(reversed(items), key=lambda item: order[item[0]]):
            remove_resource(client or self.client, kind, ident)
        _unregister(self)

    def _add(self, kind: Kind, resource: T) -> T:
        ident = getattr(resource, "id", None)
        if not isinstance(ident, str):
            raise TypeError(f"cannot track {resource!r}: it has no id")
        with self._lock:
            self._items.append((kind, ident))
            self._closed = False
        _register(self, False)
        return resource


def _end_process(process: subprocess.Popen[Any]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


# ---- one process-wide registry: atexit and signal handlers installed once, on first use -------------------

_open: set[ResourceTracker] = set()
"""Trackers with something to remove (strong references: a dropped tracker still cleans up at exit)."""
_registry_lock = threading.Lock()
_atexit_installed = False
_previous_handlers: dict[int, Any] = {}


def _register(tracker: ResourceTracker, handle_signals: bool) -> None:
    global _atexit_installed
    with _registry_lock:
        _open.add(tracker)
        if not _atexit_installed:
            atexit.register(_close_all)
            _atexit_installed = True
        if handle_signals:
            _install_signal_handlers()


def _unregister(tracker: ResourceTracker) -> None:
    with _registry_lock:
        _open.discard(tracker)


def _close_all(fresh_clients: bool = False) -> None:
    for tracker in list(_open):
        client = None
        if fresh_clients:  # a signal may interrupt a request on the tracker's own connection pool
            with contextlib.suppress(Exception):
                client = clone_client(tracker.client)
        try:
            tracker.close(client=client)
        except Exception as exc:
            log.warning("cleanup of mldock resources failed: %s", exc)


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signum in _previous_handlers:
            continue
        try:
            _previous_handlers[signum] = signal.signal(signum, _on_signal)
        except (ValueError, OSError):  # not the main interpreter, or not allowed here
            continue


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _close_all(fresh_clients=True)
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        handler: Callable[[int, FrameType | None], Any] = previous
        handler(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
