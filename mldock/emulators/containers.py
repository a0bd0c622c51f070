"""The emulators as containers, started through testcontainers-python: on a private network, reachable by
alias from other containers on it and through a published port from the host.

    with S3EmulatorContainer() as s3:              # its own private network, alias `s3`
        s3.create_bucket("data")                  # host side, through the published port
        s3.env()                                  # host side: AWS_ENDPOINT_URL=http://127.0.0.1:PORT ...
        s3.container_env()                        # for containers on s3.network: AWS_ENDPOINT_URL=http://s3:5000
        client.containers.run(image, network=s3.network, environment=s3.container_env())

    S3EmulatorContainer(network="shared")         # join an existing network (several emulators + the task)
    S3EmulatorContainer(port=9000)                # a fixed host port instead of one the engine picks

Each emulator is a testcontainers `DockerContainer` waited for with a wait strategy (HTTP answers, and an
exited container ends the wait at once with its logs). What mldock decides instead of testcontainers:

* the engine: mldock's connection (`mldock.engine.connect()`: DOCKER_HOST or a known Docker/Podman socket),
  handed to testcontainers; nothing reads or writes DOCKER_HOST behind the caller's back.
* the reaper: testcontainers' Ryuk is never started for these containers (its image must be pulled, and
  mldock has its own): every container and network is labelled (`mldock.engine`) and removed on stop(), at
  exit, on SIGTERM/SIGINT, or by the next session's sweep after a kill.
* the connection mode: `connection_mode=` (a `ConnectionMode` or its name), else TESTCONTAINERS_CONNECTION_MODE
  read from `environ`, else `docker_host`: the published port on the engine's host. (testcontainers' own guess
  sees /.dockerenv on CI machines that are VMs and fails on Podman.)

Images are built locally on first use (emulators._images): fake-gcs-server FROM scratch, moto and Azurite
on the local Python base image.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from docker.types import EndpointConfig
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient as TestcontainersClient
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

from mldock.emulators._buckets import BucketAdmin
from mldock.emulators._images import (
    AZURITE_IMAGE,
    AZURITE_PORT,
    GCS_IMAGE,
    MOTO_IMAGE,
    MOTO_PORT,
    ensure_azurite_image,
    ensure_gcs_image,
    ensure_moto_image,
)
from mldock.emulators._process import http_answers
from mldock.emulators.azure import ACCOUNT_NAME, azure_env
from mldock.emulators.gcs import DUMMY_PROJECT, gcs_env
from mldock.emulators.s3 import s3_client_kwargs, s3_env
from mldock.engine import ResourceTracker, connect, engine_errors, engine_url, sweep_stale
from mldock.errors import EmulatorError, EmulatorStartError, EmulatorTimeoutError, MldockError, UserError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from mypy_boto3_s3 import S3Client
    from typing_extensions import Self

__all__ = [
    "AZURITE_IMAGE",
    "CONNECTION_MODE_VARIABLE",
    "EMULATOR_LABEL",
    "GCS_IMAGE",
    "MOTO_IMAGE",
    "AzuriteContainer",
    "ContainerEmulator",
    "GCSEmulatorContainer",
    "S3EmulatorContainer",
    "create_network",
    "resolve_connection_mode",
]

EMULATOR_LABEL = "io.mldock.emulator"
CONNECTION_MODE_VARIABLE = "TESTCONTAINERS_CONNECTION_MODE"
_LOG_TAIL = 8192
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

Progress = Callable[[str], None]


def create_network(
    client: docker.DockerClient, tracker: ResourceTracker, name: str | None = None
) -> docker.models.networks.Network:
    """A labelled user-defined bridge network (removed with `tracker`), for emulators and task containers."""
    name = name or f"mldock-{tracker.session[:8]}-{uuid.uuid4().hex[:6]}"
    with engine_errors(f"creating network {name}"):
        network = client.networks.create(name, driver="bridge", labels=tracker.labels)
    return tracker.network(network)


def resolve_connection_mode(
    value: ConnectionMode | str | None = None, environ: Mapping[str, str] | None = None
) -> ConnectionMode:
    """The testcontainers connection mode: `value`, else TESTCONTAINERS_CONNECTION_MODE in `environ`
    (default os.environ, only read), else docker_host. A bad name is a UserError naming where it came from."""
    if isinstance(value, ConnectionMode):
        return value
    where = "connection_mode"
    if value is None:
        env = os.environ if environ is None else environ
        value, where = env.get(CONNECTION_MODE_VARIABLE, "").strip(), CONNECTION_MODE_VARIABLE
    if not value:
        return ConnectionMode.docker_host
    try:
        return ConnectionMode(value)
    except ValueError:
        allowed = ", ".join(mode.value for mode in ConnectionMode)
        raise UserError(
            f"{where}={value!r} is not a testcontainers connection mode; choose one of: {allowed}"
        ) from None


# -- testcontainers, on mldock's engine connection --------------------------------------------------------------


class _EngineClient(TestcontainersClient):
    """testcontainers' client wrapper around mldock's connection, with the connection mode given.

    Its own __init__ is not run: it reads DOCKER_HOST (or a docker context) and writes it back to os.environ.
    """

    def __init__(self, client: docker.DockerClient, mode: ConnectionMode) -> None:
        self.client = client
        self._mode = mode

    def get_connection_mode(self) -> ConnectionMode:
        return self._mode


_RYUK_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_ryuk() -> Iterator[None]:
    """Ryuk off for the containers started inside (testcontainers reads it from its global config); the
    caller's setting is back afterwards, so their own testcontainers keep their reaper."""
    with _RYUK_LOCK:
        before = testcontainers_config.ryuk_disabled
        testcontainers_config.ryuk_disabled = True
        try:
            yield
        finally:
            testcontainers_config.ryuk_disabled = before


@contextlib.contextmanager
def _docker_host_kept() -> Iterator[None]:
    """DockerContainer() sets os.environ["DOCKER_HOST"] to whatever it found (a docker context,
    ~/.testcontainers.properties): the caller's value (or its absence) is put back."""
    before = os.environ.get("DOCKER_HOST")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        elif os.environ.get("DOCKER_HOST") != before:
            os.environ["DOCKER_HOST"] = before


class _EmulatorBox(DockerContainer):
    """A DockerContainer that talks through mldock's engine connection and never starts Ryuk."""

    def __init__(self, image: str, engine: _EngineClient) -> None:
        kwargs = {"environment": {"DOCKER_HOST": engine_url(engine.client)}, "version": engine.client.api.api_version}
        with _docker_host_kept():
            super().__init__(image, docker_client_kw=kwargs)
        self._engine = engine

    def get_docker_client(self) -> TestcontainersClient:
        return self._engine

    def start(self) -> Self:
        with _without_ryuk():
            return super().start()


class _AnswersHttp(WaitStrategy):
    """Ready when `path` on the published `port` answers with any HTTP status (an error status still means
    the server is up); an exited container ends the wait at once with an EmulatorStartError."""

    def __init__(self, port: int, path: str, what: str) -> None:
        super().__init__()
        self._port, self._path, self._what = port, path, what

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        url = f"http://{_reachable(container.get_container_host_ip())}:{container.get_exposed_port(self._port)}"
        url += self._path

        def answers() -> bool:
            container.reload()
            if container.status in ("exited", "dead"):
                stdout, stderr = container.get_logs()
                tail = (stdout + stderr).decode("utf-8", "replace")[-_LOG_TAIL:]
                raise EmulatorStartError(f"the {self._what} exited before answering", log_tail=tail)
            return http_answers(url, timeout=1.0)

        try:
            ready = self._poll(answers, [OSError])
        except RuntimeError as exc:  # testcontainers wraps what a check raises
            if isinstance(exc.__cause__, EmulatorError):
                raise exc.__cause__ from None
            raise
        if not ready:
            raise TimeoutError(
                f"the {self._what} did not answer at {url} within {self._startup_timeout:.0f}s; "
                "hint: a first start builds its image, a busy machine is slow: raise start_timeout"
            )


def _reachable(host: str) -> str:
    """127.0.0.1 for the local engine's host: ports are published on the loopback address only."""
    return "127.0.0.1" if host in _LOCAL_HOSTS else host


# -- the emulators --------------------------------------------------------------------------------------------------


class ContainerEmulator(BucketAdmin):
    """An emulator in a container: the Emulator protocol, plus `network`, `container_url` and `container_env()`.

    `network`: the engine network to join (default: a private one it makes and removes); `port`: a fixed host
    port (default 0: the engine picks); `client`: the engine (default `mldock.engine.connect()`); `labels`:
    extra labels (e.g. a run id); `start_timeout`: seconds to wait for it to answer; `progress`: a line
    callback for image builds; `connection_mode`: see the module docstring.
    """

    alias: ClassVar[str]
    internal_port: ClassVar[int]
    health_path: ClassVar[str] = "/"
    default_start_timeout: ClassVar[float] = 60.0

    def __init__(
        self,
        *,
        network: str | None = None,
        port: int = 0,
        client: docker.DockerClient | None = None,
        labels: Mapping[str, str] | None = None,
        start_timeout: float | None = None,
        progress: Progress | None = None,
        connection_mode: ConnectionMode | str | None = None,
    ) -> None:
        if not 0 <= port < 65536:
            raise UserError(f"{self.name} emulator container: port {port} is not a TCP port (1-65535, or 0)")
        self.requested_network = network
        self.requested_port = port
        self.start_timeout = start_timeout if start_timeout is not None else self.default_start_timeout
        self.connection_mode = resolve_connection_mode(connection_mode)
        self._client = client
        self._extra_labels = dict(labels or {})
        self._progress = progress
        self._tracker: ResourceTracker | None = None
        self._box: _EmulatorBox | None = None
        self._network_name: str | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._last_logs = ""

    # -- what a subclass says ------------------------------------------------------------------------------

    def _ensure_image(self, client: docker.DockerClient) -> str:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _env_for(self, url: str) -> dict[str, str]:
        """The SDK variables that reach the emulator at `url` (http://HOST:PORT)."""
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the container and wait until it answers; a no-op when it already runs."""
        if self._box is not None:
            return self
        try:
            self._start()
        except EmulatorError:
            self.stop()
            raise
        except TimeoutError as exc:
            logs = self.logs()
            self.stop()
            raise EmulatorTimeoutError(str(exc), log_tail=logs) from None
        except MldockError as exc:  # an engine failure: say which emulator it stopped
            self.stop()
            raise EmulatorStartError(f"the {self.name} emulator container could not start: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        client = self._client or connect()
        self._client = client
        sweep_stale(client)
        image = self._ensure_image(client)
        tracker = ResourceTracker(client, labels={EMULATOR_LABEL: self.name, **self._extra_labels})
        self._tracker = tracker
        network = self.requested_network or str(create_network(client, tracker).name)
        self._network_name = network
        engine = _EngineClient(client, self.connection_mode)
        box = _EmulatorBox(image, engine)
        self._box = box
        local = _reachable(engine.host()) == "127.0.0.1"
        # testcontainers types a published port as a bare int (all interfaces); docker-py also takes
        # (address, port), which keeps an emulator of the local engine on the loopback address.
        box.ports[f"{self.internal_port}/tcp"] = ("127.0.0.1" if local else "0.0.0.0", self.requested_port or None)  # type: ignore[assignment]
        box.with_name(f"mldock-{self.alias}-{tracker.session[:8]}-{uuid.uuid4().hex[:6]}")
        box.with_command(self._command())
        box.with_kwargs(
            labels=tracker.labels,
            network=network,
            networking_config={network: EndpointConfig(client.api.api_version, aliases=[self.alias])},
        )
        box.waiting_for(
            _AnswersHttp(self.internal_port, self.health_path, f"{self.name} emulator container")
            .with_startup_timeout(int(self.start_timeout))
            .with_poll_interval(0.1)
        )
        with engine_errors(f"starting the {self.name} emulator container"):
            try:
                box.start()
            finally:
                with contextlib.suppress(Exception):  # tracked as soon as it exists, also when the wait fails
                    tracker.container(box.get_wrapped_container())
            self._host = _reachable(box.get_container_host_ip())
            self._port = int(box.get_exposed_port(self.internal_port))

    def stop(self) -> None:
        """Remove the container (and the network when this emulator made it); idempotent."""
        if self._box is not None:
            with contextlib.suppress(Exception):
                self._last_logs = self.logs()
        tracker, self._tracker = self._tracker, None
        self._box = None
        self._port = None
        if tracker is not None:
            tracker.close()

    def __enter__(self) -> Self:
        return self.start()  # start() stops what it began when it fails

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._box is not None and self._port is not None

    # -- addresses -----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The published host port."""
        if self._port is None:
            raise EmulatorStartError(f"{self.name} emulator container is not running; call start() first")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """The endpoint as reached from this host: http://127.0.0.1:PORT (the published port)."""
        return self.url_for()

    def url_for(self, host: str | None = None) -> str:
        """The published endpoint with `host` in place of the engine host's address."""
        host = host or self._host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def env(self, host: str | None = None) -> dict[str, str]:
        """The SDK variables reaching the published port from this host (with `host` in place of 127.0.0.1)."""
        return self._env_for(self.url_for(host))

    @property
    def network(self) -> str:
        """The name of the network the container is on (join it to reach `container_url`)."""
        if self._network_name is None or not self.running:
            raise EmulatorStartError(f"{self.name} emulator container is not running; call start() first")
        return self._network_name

    @property
    def container_url(self) -> str:
        """The endpoint as reached from a container on `network`: http://ALIAS:PORT."""
        return f"http://{self.alias}:{self.internal_port}"

    def container_env(self) -> dict[str, str]:
        """The SDK variables for a container on `network` (the alias and the container port)."""
        return self._env_for(self.container_url)

    @property
    def container(self) -> Container:
        """The docker-py container."""
        if self._box is None or not self.running:
            raise EmulatorStartError(f"{self.name} emulator container is not running; call start() first")
        return self._box.get_wrapped_container()

    def logs(self) -> str:
        """The tail of the container's output (the last run's, after stop())."""
        if self._box is None:
            return self._last_logs
        try:
            stdout, stderr = self._box.get_logs()
        except Exception as exc:
            return f"(logs unavailable: {exc})"
        return (stdout + stderr).decode("utf-8", "replace")[-_LOG_TAIL:]

    def _require_running(self) -> None:
        if not self.running:
            raise EmulatorError(f"{self.name} emulator container is not running; call start() first")

    def __repr__(self) -> str:
        where = f"{self.endpoint_url}, {self.container_url} on {self._network_name}" if self.running else "stopped"
        return f"{type(self).__name__}({where})"


class S3EmulatorContainer(ContainerEmulator):
    """moto's S3 server in a container (image MOTO_IMAGE, built locally), alias `s3`, port 5000.

    with S3EmulatorContainer() as s3:
        client.containers.run(img, network=s3.network, environment=s3.container_env())
    """

    name = "s3"
    scheme = "s3"
    alias = "s3"
    internal_port = MOTO_PORT
    health_path = "/moto-api/data.json"

    def _ensure_image(self, client: docker.DockerClient) -> str:
        return ensure_moto_image(client, progress=self._progress)

    def _command(self) -> list[str]:
        return []

    def _env_for(self, url: str) -> dict[str, str]:
        return s3_env(url)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `boto3.client("s3", ...)` that reach this emulator from the host."""
        return s3_client_kwargs(self.endpoint_url)

    def client(self) -> S3Client:
        """A boto3 S3 client for this emulator (boto3 is imported here: a cloud SDK, loaded per scheme)."""
        import boto3

        return boto3.client("s3", **self.client_kwargs())


class GCSEmulatorContainer(ContainerEmulator):
    """fake-gcs-server in a container (image GCS_IMAGE, built FROM scratch), alias `gcs`, port 4443.

        with GCSEmulatorContainer() as gcs:
            client.containers.run(img, network=gcs.network, environment=gcs.container_env())

    Resumable uploads (the SDK's choice above 8 MiB) are answered with a Location on `external`:
    "network" (default: http://gcs:4443, for containers) or "host" (the published port, for host uploads).
    """

    name = "gcs"
    scheme = "gs"
    alias = "gcs"
    internal_port = 4443
    health_path = f"/storage/v1/b?project={DUMMY_PROJECT}"

    def __init__(self, *, external: str = "network", **kwargs: Any) -> None:
        if external not in ("network", "host"):
            raise UserError(f"GCSEmulatorContainer: external must be 'network' or 'host', not {external!r}")
        super().__init__(**kwargs)
        self.external = external

    def _ensure_image(self, client: docker.DockerClient) -> str:
        return ensure_gcs_image(client, progress=self._progress)

    def _command(self) -> list[str]:
        public = f"{self.alias}:{self.internal_port}"
        return [
            "-scheme", "http",
            "-host", "0.0.0.0",
            "-port", str(self.internal_port),
            "-public-host", public,
            "-external-url", f"http://{public}",
            "-backend", "memory",
        ]  # fmt: skip

    def _start(self) -> None:
        super()._start()
        if self.external == "host":
            self._set_external_url(self.endpoint_url)

    def _set_external_url(self, url: str) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/_internal/config",
            data=json.dumps({"externalUrl": url, "publicHost": url.split("://", 1)[1]}).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def _env_for(self, url: str) -> dict[str, str]:
        return gcs_env(url)


class AzuriteContainer(ContainerEmulator):
    """Azurite's blob service in a container (image AZURITE_IMAGE, built locally from the Azurite npm package
    and node of this host), alias `azurite`, port 10000.

        with AzuriteContainer() as azure:   # EmulatorNotInstalledError when Azurite or node is missing here
            client.containers.run(img, network=azure.network, environment=azure.container_env())
    """

    name = "azure"
    scheme = "az"
    alias = "azurite"
    internal_port = AZURITE_PORT
    health_path = f"/{ACCOUNT_NAME}?comp=list"

    def _ensure_image(self, client: docker.DockerClient) -> str:
        return ensure_azurite_image(client, progress=self._progress)

    def _command(self) -> list[str]:
        return [
            "--blobHost", "0.0.0.0",
            "--blobPort", str(self.internal_port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--disableProductStyleUrl",
            "--loose",
        ]  # fmt: skip

    def _env_for(self, url: str) -> dict[str, str]:
        return azure_env(url)
