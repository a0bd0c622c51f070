"""Engine plumbing every platform harness shares: start a container as told, wait, stop, probe, read its log.

    class VertexHarness(Launcher): ...
    container = self.start("serve", command=None, environment={...}, volumes={...}, network="host")
    status = self.probe(container, probe_arguments(...))
    code, seconds = self.stop(container, deadline=30.0)

`command=None` starts the image with its own default command (what Vertex AI prediction and Azure ML online
deployments do); a list replaces it (SageMaker's `train`/`serve`, Vertex AI's job args); `entrypoint` replaces the
image's entrypoint (an Azure ML command job's command). Every container is labelled by the ResourceTracker and
removed by the caller (`tracker.remove`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mldock.engine import ResourceTracker, engine_errors
from mldock.errors import RunnerError
from mldock.harness.probe import PROBE_SCRIPT, parse_result

if TYPE_CHECKING:
    import docker

__all__ = ["Launcher", "copy_tree", "describe", "logs_of"]

_POLL_SECONDS = 0.2


class Launcher:
    """A harness's engine side: one image, a work folder for what the runs leave, a tracker for clean-up."""

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        *,
        workdir: Path,
        tracker: ResourceTracker,
        timeout: float = 900.0,
    ) -> None:
        self.client, self.image, self.workdir, self.tracker = client, image, workdir, tracker
        self.timeout = timeout

    def fresh(self, name: str) -> Path:
        """A new folder below the workdir for one run; RunnerError when it exists (one workdir per run)."""
        folder = self.workdir / name
        if folder.exists():
            raise RunnerError(f"{folder} exists already: give each harness run its own workdir")
        folder.mkdir(parents=True)
        return folder

    def start(
        self,
        what: str,
        *,
        command: Sequence[str] | None,
        environment: Mapping[str, str],
        volumes: Mapping[str, Any],
        network: str = "none",
        entrypoint: Sequence[str] | None = None,
        working_dir: str | None = None,
    ) -> Any:
        """Create and start the image (`what` names it in errors); `command=None` keeps the image's CMD."""
        options: dict[str, Any] = {}
        if entrypoint is not None:
            options["entrypoint"] = list(entrypoint)
        if working_dir is not None:
            options["working_dir"] = working_dir
        with engine_errors(f"starting {self.image} ({what})"):
            container = self.client.containers.create(
                self.image,
                command=None if command is None else list(command),
                environment=dict(environment),
                volumes=dict(volumes),
                network_mode=network,
                labels=self.tracker.labels,
                detach=True,
                **options,
            )
            self.tracker.container(container)
            container.start()
        return container

    def wait(self, container: Any, timeout: float) -> int | None:
        """The exit code once the container exits; None (after a SIGKILL) when `timeout` passes first."""
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            with engine_errors("waiting for the container"):
                container.reload()
            if container.status in ("exited", "stopped", "dead"):
                return int(container.attrs["State"]["ExitCode"])
            time.sleep(_POLL_SECONDS)
        with engine_errors("killing the container"):
            container.kill()
        return None

    def stop(self, container: Any, deadline: float) -> tuple[int | None, float | None]:
        """SIGTERM, then SIGKILL `deadline` s later as the platform does: (exit code or None, seconds taken)."""
        container.reload()
        if container.status != "running":
            return int(container.attrs["State"]["ExitCode"]), None
        started = time.monotonic()
        with engine_errors("sending SIGTERM"):
            container.kill(signal="SIGTERM")
        code = self.wait(container, deadline)
        return code, round(time.monotonic() - started, 2)

    def wait_for_log(self, container: Any, text: str) -> None:
        """Return once the container's log holds `text` (or the container stopped, or the timeout passed)."""
        ends = time.monotonic() + self.timeout
        while time.monotonic() < ends:
            if text in logs_of(container):
                return
            container.reload()
            if container.status != "running":
                return
            time.sleep(_POLL_SECONDS)

    def probe(self, container: Any, arguments: str) -> dict[str, Any]:
        """Run the hosting probe inside the container (mldock.harness.probe); its findings."""
        container.reload()
        if container.status != "running":
            return _not_running(container.status)
        with engine_errors("probing the serving container"):
            result = container.exec_run(["python", "-c", PROBE_SCRIPT, arguments], demux=False)
        try:
            return parse_result(result.output or b"")
        except RunnerError:
            container.reload()
            if container.status != "running":  # the server exited while the probe waited
                return _not_running(container.status)
            raise


def _not_running(status: str) -> dict[str, Any]:
    return {"ping": {"status": 0, "ready_after": 0, "seen": [f"container {status}"]}}


def copy_tree(source: Path, target: Path) -> None:
    """Copy the files below `source` into `target` (made), keeping the structure; RunnerError for no folder."""
    if not source.is_dir():
        raise RunnerError(f"{source}: not a folder of channel data")
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())
    target.mkdir(parents=True, exist_ok=True)


def logs_of(container: Any) -> str:
    """The container's stdout and stderr so far, as text."""
    with engine_errors("reading the container's logs"):
        raw = container.logs(stdout=True, stderr=True)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def describe(
    command: Sequence[str] | None,
    environment: Mapping[str, str],
    volumes: Mapping[str, Any],
    *,
    network: str = "none",
    entrypoint: Sequence[str] | None = None,
    working_dir: str | None = None,
) -> str:
    """How a container was started, in one line: `IMAGE <command>; entrypoint ...; network ...; mounts ...`."""
    shown = "(the image's default command)" if command is None else " ".join(command)
    parts = [f"IMAGE {shown}"]
    if entrypoint is not None:
        parts.append(f"entrypoint {' '.join(entrypoint)}")
    if working_dir is not None:
        parts.append(f"working folder {working_dir}")
    mounts = ", ".join(f"{v['bind']} ({v['mode']})" for v in sorted(volumes.values(), key=lambda v: v["bind"]))
    variables = ", ".join(f"{k}={v}" for k, v in environment.items()) or "none"
    parts += [f"network {network}", f"mounts {mounts or 'none'}", f"variables {variables}"]
    return "; ".join(parts)
