"""The `docker` runner: the project's image (built, cached) run through any Docker Engine API.

    with DockerRunner() as runner:                       # connects on first use; Docker or Podman
        result = runner.run(RunSpec(project, project.stage("test"), emulators=[s3]))
        result.assert_succeeded()
        (result.base_dir / "output").iterdir()           # a host copy of the container's /opt/ml

What of the host reaches the container (mldock.runners.host_environment, mldock.runners.mounts): the cloud SDKs'
variables set on the host and the project's and run's `pass_env`; `file://` channels, credential files and CA
bundles bind-mounted (inputs and credentials read-only, outputs read-write) with their variables rewritten to
the paths inside the container. An SDK endpoint on the host's loopback (AWS_ENDPOINT_URL=http://127.0.0.1:...)
puts the container on the host's network in `network="auto"`, as host-process emulators do.

Every container it starts carries mldock's labels (session, owner, `io.mldock.run`) and is removed when the
run ends, also after an exception or Ctrl-C; leftovers of a killed session are swept at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mldock.contract import FAILURE_FILE, IMAGE_PROJECT_DIR, SERVE_HOST, SERVE_PORT, base_dir_from, serve_port
from mldock.engine import RUN_LABEL, ResourceTracker, connect, engine_errors, sweep_stale
from mldock.errors import EngineError, RunnerError, UserError
from mldock.image import build_image
from mldock.runners._basedirs import BaseDirs
from mldock.runners.addressing import (
    ContainerAddressing,
    EngineKind,
    NetworkMode,
    container_addressing,
    loopback_sdk_variable,
)
from mldock.runners.base import RunResult, RunSpec
from mldock.runners.environment import TaskEnvironment, task_environment
from mldock.runners.mounts import Mount, container_mounts
from mldock.runners.process import DEFAULT_GRACE
from mldock.runners.resources import Resources, task_resources
from mldock.runners.serving import HttpEndpoint, client_host, free_port, wait_until_healthy

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

__all__ = ["DockerRunner"]

log = logging.getLogger(__name__)

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


class DockerRunner:
    """Runs the project's image as a container: `train` to the end, or `serve` behind a published port.

        runner = DockerRunner(network="bridge", log=print)
        with runner.serve(spec) as endpoint:
            endpoint.invoke(b"1,2,3", content_type="text/csv")

    `host_environ` is the developer's environment the SDK variables and `pass_env` names are forwarded from
    (default: `os.environ` when a run starts); `home` holds the `.aws` folder mounted for profiles (default: the
    user's home; None mounts none).
    `client` is a docker-py client (default: `mldock.engine.connect()` on first use); `image` skips the build
    and runs that tag; `network` is the addressing mode of `mldock.runners.addressing`; `grace` the seconds
    between SIGTERM and SIGKILL; `log` gets the container's output line by line; `copy_base_dir=False` copies
    only the failure file of a failed run out of the container (then `RunResult.base_dir` is None). Host copies
    of base dirs belong to the caller until `cleanup()` (or the end of `with`).
    """

    name = "docker"

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        image: str | None = None,
        network: NetworkMode = "auto",
        grace: float = DEFAULT_GRACE,
        log: Callable[[str], None] | None = None,
        copy_base_dir: bool = True,
        build_progress: Callable[[str], None] | None = None,
        host_environ: Mapping[str, str] | None = None,
        home: Path | Literal["default"] | None = "default",
    ) -> None:
        self._client = client
        self.host_environ = host_environ
        self.home = Path.home() if home == "default" else home
        self.image = image
        self.network = network
        self.grace = grace
        self.log = log
        self.copy_base_dir = copy_base_dir
        self.build_progress = build_progress
        self._engine: EngineKind | None = None
        self._swept = False
        self._base_dirs = BaseDirs()

    # -- engine and image ----------------------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        """The engine client; the first use connects and sweeps what killed sessions left behind."""
        if self._client is None:
            self._client = connect()
        if not self._swept:
            self._swept = True
            _sweep(self._client)
        return self._client

    @property
    def engine(self) -> EngineKind:
        """"podman" or "docker" (the host gateway's name differs)."""
        if self._engine is None:
            with engine_errors("asking the engine for its version"):
                version = self.client.version()
            names = " ".join(str(c.get("Name", "")) for c in version.get("Components") or [])
            self._engine = "podman" if "podman" in names.lower() else "docker"
        return self._engine

    def image_for(self, spec: RunSpec) -> str:
        """The tag to run: `image` when given, else the project's image (built when its content changed)."""
        if self.image is not None:
            return self.image

        built = build_image(spec.project, client=self.client, progress=self.build_progress)
        return str(built.tag)

    # -- training ------------------------------------------------------------------------------------------

    def run(self, spec: RunSpec) -> RunResult:
        """Run `spec.task` in a fresh container to the end (or `spec.timeout`); the container is removed after."""
        image = self.image_for(spec)
        plan, env = self._plan(spec)
        run_id = uuid.uuid4().hex[:12]
        with ResourceTracker(self.client, labels={**spec.labels, RUN_LABEL: run_id}) as tracker:
            started = time.monotonic()
            container = self._start(spec, image, env, plan, tracker, run_id)
            # Following the log stream until it ends, rather than sitting in the engine's wait call, is also
            # what lets Podman 4.3 notice the exit promptly (measured: 1.3 s instead of 2.3-3 s per lifecycle).
            pump = _LogPump.start(container, env, self.log)
            timed_out = False
            try:
                exit_code = self._await_exit(container, pump, spec.timeout)
            except _Timeout:
                timed_out = True
                with engine_errors(f"stopping timed-out container {container.name}"):
                    container.stop(timeout=int(self.grace))
                exit_code = self._wait(container, self.grace + 30)
            duration = time.monotonic() - started
            pump.wait(5.0)
            logs = env.redact(pump.settle())
            if timed_out:
                logs += (
                    f"\n[mldock] {spec.task} timed out after {spec.timeout:g}s: "
                    f"container stopped (SIGTERM, SIGKILL after {self.grace:g}s)\n"
                )
            base_dir, failure = self._collect(container, spec, env, failed=timed_out or exit_code != 0)
        return RunResult(
            task=spec.task,
            exit_code=exit_code,
            logs=logs,
            failure=failure,
            duration=duration,
            environment=env.masked,
            timed_out=timed_out,
            base_dir=base_dir,
        )

    # -- serving -------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(
        self, spec: RunSpec, *, ready_timeout: float = 60.0, port: int | None = None, host: str = "127.0.0.1"
    ) -> Iterator[HttpEndpoint]:
        """Start `serve`, publish its port on `host:port` (an ephemeral loopback port by default), wait for /ping
        200, yield; stop gracefully on exit. On the host's network the task itself listens there."""
        spec = replace(spec, task="serve")
        image = self.image_for(spec)
        plan, env = self._plan(spec)
        host_port: int | None = port
        if plan.host_network:  # the container's ports are the host's: the task listens on the one asked for
            host_port = port or free_port()
            plan, env = self._plan(spec, runner_env={SERVE_PORT: str(host_port), SERVE_HOST: host})
        container_port = _container_port(env)
        run_id = uuid.uuid4().hex[:12]
        with ResourceTracker(self.client, labels={**spec.labels, RUN_LABEL: run_id}) as tracker:
            ports = None if plan.host_network else {f"{container_port}/tcp": (host, port)}
            container = self._start(spec, image, env, plan, tracker, run_id, ports=ports)
            pump = _LogPump.start(container, env, self.log) if self.log is not None else None
            try:
                if host_port is None:
                    host_port = _published_port(container, container_port)
                url = f"http://{client_host(host)}:{host_port}"
                endpoint = HttpEndpoint(url, logs=lambda: env.redact(_logs(container)))
                wait_until_healthy(
                    endpoint, timeout=ready_timeout, exited=lambda: _exit_code(container), what="the serving container"
                )
                yield endpoint
            finally:
                with contextlib.suppress(Exception):  # the tracker removes it regardless
                    container.stop(timeout=int(self.grace))
                with contextlib.suppress(Exception):  # stop() may return (or time out) before the exit is final
                    self._wait(container, self.grace + 30.0)
                if pump is not None:
                    pump.wait(self.grace + 30.0)
                    pump.settle()

    # -- base dirs -----------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove every host copy of a base dir this runner made."""
        self._base_dirs.cleanup()

    def __enter__(self) -> DockerRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- helpers -------------------------------------------------------------------------------------------

    def _plan(
        self, spec: RunSpec, *, runner_env: Mapping[str, str] | None = None
    ) -> tuple[_ContainerPlan, TaskEnvironment]:
        """Where the container goes on the network, what it mounts, and the variables it gets."""
        host_environ = os.environ if self.host_environ is None else self.host_environ
        addressing = self._addressing(spec)
        env = task_environment(
            spec, emulator_env=addressing.environment, runner_env=runner_env, host_environ=host_environ
        )
        if self.network == "auto" and not addressing.host_network and not spec.emulators:
            loopback = loopback_sdk_variable(env.variables)
            if loopback is not None:  # an endpoint on the host's loopback is reached from its network only
                log.info("%s names the host's loopback: the container joins the host's network", loopback)
                addressing = ContainerAddressing(network_mode="host")
        # hyperparameters travel in a file mounted read-only (no environment-size limit); removed with the host
        # copies of base dirs (cleanup())
        env = env.hyperparameters_in_file(self._base_dirs.new(f"{spec.project.name}-{spec.task}-files"))
        mounted = container_mounts(env.variables, home=self.home)
        env = env.with_variables(mounted.environment)
        return _ContainerPlan(addressing, mounted.mounts, task_resources(spec)), env

    def _addressing(self, spec: RunSpec) -> ContainerAddressing:
        if not spec.emulators and self.network != "host":
            return ContainerAddressing()
        return container_addressing(spec.emulators, engine=self.engine, mode=self.network)

    def create(self, spec: RunSpec, tracker: ResourceTracker) -> Container:
        """Create `spec`'s container exactly as `run` would, without starting it (`tracker` removes it): for
        inspecting what a run would ask the engine for (mounts, variables, resources)."""
        image = self.image_for(spec)
        plan, env = self._plan(spec)
        return self._create(spec, image, env, plan, tracker, uuid.uuid4().hex[:12])

    def _start(
        self,
        spec: RunSpec,
        image: str,
        env: TaskEnvironment,
        plan: _ContainerPlan,
        tracker: ResourceTracker,
        run_id: str,
        *,
        ports: dict[str, Any] | None = None,
    ) -> Container:
        container = self._create(spec, image, env, plan, tracker, run_id, ports=ports)
        with engine_errors(f"starting container {container.name}"):
            container.start()
        return container

    def _create(
        self,
        spec: RunSpec,
        image: str,
        env: TaskEnvironment,
        plan: _ContainerPlan,
        tracker: ResourceTracker,
        run_id: str,
        *,
        ports: dict[str, Any] | None = None,
    ) -> Container:
        name = _NAME_UNSAFE.sub("-", f"mldock-{spec.project.name}-{spec.task}-{run_id}")
        with engine_errors(f"creating container {name} from {image}"):
            container: Container = self.client.containers.create(
                image,
                command=[spec.task],
                name=name,
                environment=dict(env.variables),
                labels=tracker.labels,
                detach=True,
                ports=ports,
                mounts=[mount.engine_spec() for mount in plan.mounts] or None,
                **plan.addressing.run_kwargs(),
                **plan.resources.engine_kwargs(),
            )
        tracker.container(container)
        return container

    def _await_exit(self, container: Container, pump: _LogPump, timeout: float | None) -> int:
        """The exit code, once the log stream has ended and the engine confirms; _Timeout after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pump.wait(timeout)
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        return self._wait(container, remaining)

    def _wait(self, container: Container, timeout: float | None) -> int:
        import requests.exceptions

        with engine_errors(f"waiting for container {container.name}"):
            try:
                result = container.wait(timeout=timeout)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
                if _exit_code(container) is None:
                    raise _Timeout from exc
                result = container.wait(timeout=30)
        return int(result.get("StatusCode", -1))

    def _collect(
        self, container: Container, spec: RunSpec, env: TaskEnvironment, *, failed: bool
    ) -> tuple[Path | None, str | None]:
        """Copy the base dir out of the stopped container and read its failure file.

        Without `copy_base_dir`, only the failure file of a failed run is copied (a run that succeeded has none).
        """
        base = str(base_dir_from(env.variables, cwd=Path(IMAGE_PROJECT_DIR)))
        failure_path = f"{base}/{FAILURE_FILE}"
        if not self.copy_base_dir and not failed:
            return None, None
        target = self._base_dirs.new(f"{spec.project.name}-{spec.task}")
        if not self.copy_base_dir:
            copied = _copy_out(container, failure_path, target)
            failure = _read(target / Path(FAILURE_FILE).name, env) if copied else None
            self._base_dirs.remove(target)
            return None, failure
        if not _copy_out(container, base, target):
            self._base_dirs.remove(target)
            return None, None
        base_dir = target / Path(base).name
        return base_dir, _read(base_dir / FAILURE_FILE, env)


@dataclass(frozen=True)
class _ContainerPlan:
    """Where a task container goes on the network and the host paths it mounts."""

    addressing: ContainerAddressing
    mounts: tuple[Mount, ...] = ()
    resources: Resources = field(default_factory=Resources)

    @property
    def host_network(self) -> bool:
        return self.addressing.host_network


class _Timeout(Exception):
    """The container was still running when the run's timeout expired."""


class _LogPump:
    """Follows a container's output until it ends: keeps it, and hands it line by line to `log` when given."""

    def __init__(self, container: Container, env: TaskEnvironment, log: Callable[[str], None] | None) -> None:
        self._container = container
        self._env = env
        self._log = log
        self._chunks: list[bytes] = []
        self.complete = False
        """True once the stream ended by itself (the container exited), so the kept output is all of it."""
        self._thread = threading.Thread(target=self._pump, name=f"logs-{container.name}", daemon=True)

    @classmethod
    def start(cls, container: Container, env: TaskEnvironment, log: Callable[[str], None] | None) -> _LogPump:
        pump = cls(container, env, log)
        pump._thread.start()
        return pump

    def _pump(self) -> None:
        pending = b""
        try:
            for chunk in self._container.logs(stream=True, follow=True):
                self._chunks.append(chunk)
                if self._log is not None:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        _emit(self._log, self._env.redact(line.decode("utf-8", "replace")))
            self.complete = True
        except Exception:  # the container going away or the connection dropping ends the stream
            log.debug("log stream of %s ended early", self._container.name, exc_info=True)
        if pending and self._log is not None:
            _emit(self._log, self._env.redact(pending.decode("utf-8", "replace")))

    def wait(self, timeout: float | None) -> bool:
        """Wait until the stream ends (at most `timeout` s); True when it has."""
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    def settle(self) -> str:
        """All of the output of the stopped container: what was streamed, completed from one more read of its logs.

        A followed stream can end before the last lines (Podman under load ends it at the exit event, before its
        log file is read to the end), whether or not it ended by itself; so once the container has stopped, the
        logs are read once more, and the lines the stream missed are handed to `log` too.
        """
        seen = b"".join(self._chunks)
        try:
            full: bytes = self._container.logs(stdout=True, stderr=True)
        except Exception:  # the container is gone: what was streamed is all there is
            return self.text()
        if len(full) <= len(seen) or not full.startswith(seen):
            return self.text()
        self._chunks.append(full[len(seen) :])
        if self._log is not None:
            missing = full[len(seen) :]
            if seen and not seen.endswith(b"\n"):  # the stream's unfinished last line was emitted as it was
                missing = missing.partition(b"\n")[2]
            for line in missing.decode("utf-8", "replace").splitlines():
                _emit(self._log, self._env.redact(line))
        return self.text()

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")


def _sweep(client: docker.DockerClient, attempts: int = 3) -> None:
    """Remove what killed sessions left behind; housekeeping, so an engine hiccup is retried, then logged.

    (Podman answers a listing with 500 "no such container" when another client removes one meanwhile.)
    """
    for attempt in range(1, attempts + 1):
        try:
            sweep_stale(client)
            return
        except EngineError as exc:
            if attempt == attempts:
                log.warning("could not sweep stale mldock resources: %s", exc)
                return
            time.sleep(0.2 * attempt)


def _emit(log: Callable[[str], None], line: str) -> None:
    with contextlib.suppress(Exception):  # a broken callback must not break the run
        log(line)


def _logs(container: Container) -> str:
    with contextlib.suppress(Exception):
        data: bytes = container.logs(stdout=True, stderr=True)
        return data.decode("utf-8", "replace")
    return ""


def _exit_code(container: Container) -> int | None:
    """The container's exit code once it has stopped, else None."""
    with engine_errors(f"inspecting container {container.name}"):
        container.reload()
    state = container.attrs.get("State") or {}
    if state.get("Running") or container.status in ("created", "running", "restarting", "paused"):
        return None
    return int(state.get("ExitCode", -1))


def _container_port(env: TaskEnvironment) -> int:
    """The port the serving task listens on inside its container (the runtime's own rule)."""
    try:
        return serve_port(env.variables)
    except UserError as exc:
        raise RunnerError(f"the serving port: {exc}") from None


def _published_port(container: Container, port: int) -> int:
    with engine_errors(f"inspecting container {container.name}"):
        container.reload()
    bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in bindings.get(f"{port}/tcp") or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    raise RunnerError(
        f"container {container.name}: the engine did not publish port {port} "
        f"(port bindings: {bindings}); logs:\n{_logs(container)[-2000:]}"
    )


def _copy_out(container: Container, path: str, target: Path) -> bool:
    """Extract `path` of the container into `target`; False when it does not exist there."""
    import docker.errors

    archive = target / ".archive.tar"
    try:
        with engine_errors(f"copying {path} out of container {container.name}"):
            try:
                stream, _ = container.get_archive(path)
            except docker.errors.NotFound:
                return False
            with open(archive, "wb") as out:
                for chunk in stream:
                    out.write(chunk)
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(archive)
    return True


def _read(path: Path, env: TaskEnvironment) -> str | None:
    try:
        return env.redact(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None

