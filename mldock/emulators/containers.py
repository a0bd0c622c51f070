"""The emulators as containers on a private network, reachable by alias from other containers on it and
through a published 127.0.0.1 port from the host.

    with S3EmulatorContainer() as s3:              # its own private network, alias `s3`
        s3.create_bucket("data")                  # host side, through the published port
        s3.env()                                  # host side: AWS_ENDPOINT_URL=http://127.0.0.1:PORT ...
        s3.container_env()                        # for containers on s3.network: AWS_ENDPOINT_URL=http://s3:5000
        client.containers.run(image, network=s3.network, environment=s3.container_env())

`start(network=...)` joins an existing network instead (several emulators and the task container on one
network). Images: fake-gcs-server and moto are built locally on first use (see emulators._images);
Azurite runs the pinned official image when the engine has it or can pull it, and otherwise raises
EmulatorNotInstalledError saying why. Every container and network is labelled (mldock.engine) and removed
on stop(), at exit, on SIGTERM/SIGINT, or by the next session's sweep after a kill.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from mldock.emulators._images import (
    GCS_IMAGE,
    MOTO_IMAGE,
    MOTO_PORT,
    ensure_gcs_image,
    ensure_moto_image,
    image_present,
)
from mldock.emulators._managed import ProcessEmulator
from mldock.emulators._process import http_answers
from mldock.emulators.azure import ACCOUNT_KEY, ACCOUNT_NAME, AZURITE_VERSION, AzureBlobEmulator
from mldock.emulators.base import wait_until
from mldock.emulators.gcs import DUMMY_PROJECT, GCSEmulator
from mldock.emulators.s3 import S3Emulator
from mldock.engine import ResourceTracker, connect, engine_errors, sweep_stale
from mldock.errors import EmulatorError, EmulatorNotInstalledError, EmulatorStartError, MldockError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from typing_extensions import Self

    from mldock.engine import ResourceTracker

__all__ = [
    "AZURITE_IMAGE",
    "GCS_IMAGE",
    "MOTO_IMAGE",
    "AzuriteContainer",
    "ContainerEmulator",
    "GCSEmulatorContainer",
    "S3EmulatorContainer",
    "create_network",
]

AZURITE_IMAGE = f"mcr.microsoft.com/azure-storage/azurite:{AZURITE_VERSION}"
EMULATOR_LABEL = "io.mldock.emulator"
_LOG_TAIL = 8192

Progress = Callable[[str], None]


def create_network(
    client: docker.DockerClient, tracker: ResourceTracker, name: str | None = None
) -> docker.models.networks.Network:
    """A labelled user-defined bridge network (removed with `tracker`), for emulators and task containers."""

    name = name or f"mldock-{tracker.session[:8]}-{uuid.uuid4().hex[:6]}"
    with engine_errors(f"creating network {name}"):
        network = client.networks.create(name, driver="bridge", labels=tracker.labels)
    return tracker.network(network)


class ContainerEmulator(ProcessEmulator):
    """The container half shared by the three emulators; mixed in before the process emulator class,
    whose bucket helpers (create_bucket, reset, client, ...) then work through the published port.

    `client`: the engine (default `mldock.engine.connect()`); `labels`: extra labels (e.g. a run id);
    `progress`: a line callback for image builds.
    """

    image: ClassVar[str]
    alias: ClassVar[str]
    internal_port: ClassVar[int]
    health_path: ClassVar[str] = "/"

    def __init__(
        self,
        *,
        client: docker.DockerClient | None = None,
        labels: Mapping[str, str] | None = None,
        start_timeout: float | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(host="127.0.0.1", port=0, start_timeout=start_timeout)
        self._client = client
        self._extra_labels = dict(labels or {})
        self._progress = progress
        self._tracker: ResourceTracker | None = None
        self._container: Container | None = None
        self._network_name: str | None = None
        self._last_logs = ""

    # -- what a subclass says ------------------------------------------------------------------------------

    def _ensure_image(self, client: docker.DockerClient) -> str:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def container_env(self) -> dict[str, str]:
        """The SDK variables for a container on `self.network` (the alias and the container port)."""
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self, network: str | None = None) -> Self:
        """Start the container on `network` (default: a new private network it owns) and wait until it answers."""

        if self._container is not None:
            return self
        try:
            client = self._client or connect()
            self._client = client
            sweep_stale(client)
            image = self._ensure_image(client)
            tracker = ResourceTracker(client, labels={EMULATOR_LABEL: self.name, **self._extra_labels})
            self._tracker = tracker
            if network is None:
                network = create_network(client, tracker).name
            self._network_name = network
            endpoint = client.api.create_endpoint_config(aliases=[self.alias])
            with engine_errors(f"starting the {self.name} emulator container"):
                container = client.containers.run(
                    image,
                    self._command(),
                    name=f"mldock-{self.alias}-{tracker.session[:8]}-{uuid.uuid4().hex[:6]}",
                    detach=True,
                    labels=tracker.labels,
                    network=network,
                    networking_config={network: endpoint},
                    ports={f"{self.internal_port}/tcp": ("127.0.0.1", None)},
                )
            self._container = tracker.container(container)
            self._port = self._published_port(container)
            wait_until(
                self._healthy,
                timeout=self.start_timeout,
                what=f"{self.name} emulator container answering on {self.endpoint_url}",
                logs=self.logs,
            )
        except EmulatorError:
            self.stop()
            raise
        except MldockError as exc:  # an engine failure: say which emulator it stopped
            self.stop()
            raise EmulatorStartError(f"the {self.name} emulator container could not start: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Remove the container (and the network when this emulator made it); idempotent."""
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._last_logs = self.logs()
        tracker, self._tracker = self._tracker, None
        self._container = None
        self._port = None
        if tracker is not None:
            tracker.close()

    @property
    def running(self) -> bool:
        return self._container is not None

    @property
    def network(self) -> str:
        """The name of the network the container is on (join it to reach `container_url`)."""
        if self._network_name is None or self._container is None:
            raise EmulatorStartError(f"{self.name} emulator container is not running; call start() first")
        return self._network_name

    @property
    def container_url(self) -> str:
        """The endpoint as reached from a container on `network`: http://ALIAS:PORT."""
        return f"http://{self.alias}:{self.internal_port}"

    @property
    def container(self) -> Container:
        if self._container is None:
            raise EmulatorStartError(f"{self.name} emulator container is not running; call start() first")
        return self._container

    def logs(self) -> str:
        """The tail of the container's output (the last run's, after stop())."""
        if self._container is None:
            return self._last_logs
        try:
            raw = self._container.logs(tail=200)
        except Exception as exc:
            return f"(logs unavailable: {exc})"
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return text[-_LOG_TAIL:]

    def _require_running(self) -> None:
        if self._container is None:
            raise EmulatorError(f"{self.name} emulator container is not running; call start() first")

    def _healthy(self) -> bool:
        assert self._container is not None
        self._container.reload()
        if self._container.status in ("exited", "dead"):
            raise EmulatorStartError(
                f"the {self.name} emulator container exited ({self._container.attrs['State'].get('ExitCode')})",
                log_tail=self.logs(),
            )
        return http_answers(f"{self.endpoint_url}{self.health_path}", timeout=2.0)

    def _published_port(self, container: Container) -> int:
        container.reload()
        bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in bindings.get(f"{self.internal_port}/tcp") or []:
            port = str(binding.get("HostPort", ""))
            if port.isdigit() and int(port) > 0:
                return int(port)
        raise EmulatorStartError(f"the engine published no host port for the {self.name} emulator container")

    def __repr__(self) -> str:
        where = f"{self.endpoint_url}, {self.container_url} on {self._network_name}" if self._port else "stopped"
        return f"{type(self).__name__}({where})"


class S3EmulatorContainer(ContainerEmulator, S3Emulator):
    """moto's S3 server in a container (image MOTO_IMAGE, built locally), alias `s3`, port 5000.

        with S3EmulatorContainer() as s3:
            client.containers.run(img, network=s3.network, environment=s3.container_env())
    """

    image = MOTO_IMAGE
    alias = "s3"
    internal_port = MOTO_PORT
    health_path = "/moto-api/data.json"

    def _ensure_image(self, client: docker.DockerClient) -> str:
        return ensure_moto_image(client, progress=self._progress)

    def _command(self) -> list[str]:
        return []

    def container_env(self) -> dict[str, str]:
        return {**self.env(), "AWS_ENDPOINT_URL": self.container_url}


class GCSEmulatorContainer(ContainerEmulator, GCSEmulator):
    """fake-gcs-server in a container (image GCS_IMAGE, built FROM scratch), alias `gcs`, port 4443.

        with GCSEmulatorContainer() as gcs:
            client.containers.run(img, network=gcs.network, environment=gcs.container_env())

    Resumable uploads (the SDK's choice above 8 MiB) are answered with a Location on `external`:
    "network" (default: http://gcs:4443, for containers) or "host" (the published port, for host uploads).
    """

    image = GCS_IMAGE
    alias = "gcs"
    internal_port = 4443
    health_path = f"/storage/v1/b?project={DUMMY_PROJECT}"

    def __init__(self, *, external: str = "network", **kwargs: Any) -> None:
        if external not in ("network", "host"):
            raise ValueError(f"external must be 'network' or 'host', not {external!r}")
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

    def start(self, network: str | None = None) -> Self:
        super().start(network)
        if self.external == "host":
            self._set_external_url(self.endpoint_url)
        return self

    def _set_external_url(self, url: str) -> None:
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{self.endpoint_url}/_internal/config",
            data=json.dumps({"externalUrl": url, "publicHost": url.split("://", 1)[1]}).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def container_env(self) -> dict[str, str]:
        return {**self.env(), "STORAGE_EMULATOR_HOST": self.container_url}


class AzuriteContainer(ContainerEmulator, AzureBlobEmulator):
    """Azurite's blob service in the pinned official container image, alias `azurite`, port 10000.

        with AzuriteContainer() as azure:         # EmulatorNotInstalledError when the image cannot be had
            client.containers.run(img, network=azure.network, environment=azure.container_env())
    """

    image = AZURITE_IMAGE
    alias = "azurite"
    internal_port = 10000
    health_path = "/devstoreaccount1?comp=list"

    def _ensure_image(self, client: docker.DockerClient) -> str:
        if image_present(client, AZURITE_IMAGE):
            return AZURITE_IMAGE
        repository, tag = AZURITE_IMAGE.rsplit(":", 1)
        reason = ""
        try:
            for chunk in client.api.pull(repository, tag=tag, stream=True, decode=True):
                if isinstance(chunk, dict) and chunk.get("error"):
                    reason = str(chunk["error"])
        except Exception as exc:
            reason = str(getattr(exc, "explanation", None) or exc)
        if reason or not image_present(client, AZURITE_IMAGE):
            reason = (reason or "the pull ended without the image").strip().splitlines()[-1][:300]
            raise EmulatorNotInstalledError(
                f"the container engine cannot get {AZURITE_IMAGE} ({reason}); load it where a registry is "
                f"reachable (`docker pull {AZURITE_IMAGE}` then `docker save | docker load`), "
                "or use the Azurite process emulator (emulators.AzureBlobEmulator, scripts/install-azurite.sh)"
            )
        return AZURITE_IMAGE

    def _command(self) -> list[str]:
        return [
            "azurite-blob",
            "--blobHost", "0.0.0.0",
            "--blobPort", str(self.internal_port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--disableProductStyleUrl",
            "--loose",
        ]  # fmt: skip

    def container_env(self) -> dict[str, str]:
        return {
            "AZURE_STORAGE_CONNECTION_STRING": (
                f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.container_url}/{ACCOUNT_NAME};"
            )
        }
