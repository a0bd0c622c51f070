"""Addressing decisions: which network a task container joins and which emulator variables it gets."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mldock.errors import RunnerError
from mldock.runners.addressing import container_addressing, host_process_environment


class HostEmulator:
    """A host-process emulator as the runners see it (address logic only)."""

    def __init__(self, name: str, variable: str, host: str = "127.0.0.1", port: int = 9000) -> None:
        self.name = name
        self.scheme = name
        self.host = host
        self.port = port
        self.variable = variable

    def env(self, host: str | None = None) -> Mapping[str, str]:
        return {self.variable: f"http://{host or '127.0.0.1'}:{self.port}"}


class ContainerEmulator:
    """An emulator container on a private network, answering by alias."""

    def __init__(self, name: str, variable: str, network: str = "mldock-net") -> None:
        self.name = name
        self.scheme = name
        self.variable = variable
        self._network = network

    @property
    def network(self) -> str:
        if self._network == "stopped":
            raise RuntimeError("not running")
        return self._network

    def container_env(self) -> Mapping[str, str]:
        return {self.variable: f"http://{self.name}-emulator:4443"}

    def env(self, host: str | None = None) -> Mapping[str, str]:
        return {self.variable: "http://127.0.0.1:4443"}


S3 = HostEmulator("s3", "AWS_ENDPOINT_URL")
S3_ANY = HostEmulator("s3", "AWS_ENDPOINT_URL", host="0.0.0.0")
GCS_ANY = HostEmulator("gcs", "STORAGE_EMULATOR_HOST", host="0.0.0.0", port=9001)


def test_host_process_gets_env_as_is() -> None:
    assert host_process_environment([S3]) == {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}  # type: ignore[list-item]


def test_no_emulators_default_network() -> None:
    plan = container_addressing([], engine="podman")
    assert plan.run_kwargs() == {}
    assert not plan.host_network
    assert plan.environment == {}


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_host_emulators_auto_uses_host_network(engine: str) -> None:
    plan = container_addressing([S3], engine=engine)  # type: ignore[list-item, arg-type]
    assert plan.run_kwargs() == {"network_mode": "host"}
    assert plan.host_network
    assert plan.environment == {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}


def test_bridge_on_podman_uses_host_containers_internal() -> None:
    plan = container_addressing([S3_ANY, GCS_ANY], engine="podman", mode="bridge")  # type: ignore[list-item]
    assert plan.run_kwargs() == {}
    assert plan.environment == {
        "AWS_ENDPOINT_URL": "http://host.containers.internal:9000",
        "STORAGE_EMULATOR_HOST": "http://host.containers.internal:9001",
    }


def test_bridge_on_docker_maps_host_gateway() -> None:
    plan = container_addressing([S3_ANY], engine="docker", mode="bridge")  # type: ignore[list-item]
    assert plan.run_kwargs() == {"extra_hosts": {"host.docker.internal": "host-gateway"}}
    assert plan.environment == {"AWS_ENDPOINT_URL": "http://host.docker.internal:9000"}


def test_bridge_refuses_loopback_bound_emulator_with_a_hint() -> None:
    with pytest.raises(RunnerError, match=r"host='0\.0\.0\.0'"):
        container_addressing([S3], engine="podman", mode="bridge")  # type: ignore[list-item]


def test_emulator_containers_join_their_network() -> None:
    gcs = ContainerEmulator("gcs", "STORAGE_EMULATOR_HOST")
    plan = container_addressing([gcs], engine="podman")  # type: ignore[list-item]
    assert plan.run_kwargs() == {"network": "mldock-net"}
    assert plan.environment == {"STORAGE_EMULATOR_HOST": "http://gcs-emulator:4443"}


def test_mixed_kinds_use_network_plus_gateway() -> None:
    gcs = ContainerEmulator("gcs", "STORAGE_EMULATOR_HOST")
    plan = container_addressing([gcs, S3_ANY], engine="docker")  # type: ignore[list-item]
    assert plan.run_kwargs() == {"network": "mldock-net", "extra_hosts": {"host.docker.internal": "host-gateway"}}
    assert plan.environment["AWS_ENDPOINT_URL"] == "http://host.docker.internal:9000"


def test_host_mode_cannot_reach_emulator_containers() -> None:
    gcs = ContainerEmulator("gcs", "STORAGE_EMULATOR_HOST")
    with pytest.raises(RunnerError, match="private network"):
        container_addressing([gcs], engine="podman", mode="host")  # type: ignore[list-item]


def test_two_networks_refused() -> None:
    one = ContainerEmulator("gcs", "STORAGE_EMULATOR_HOST", network="a")
    two = ContainerEmulator("s3", "AWS_ENDPOINT_URL", network="b")
    with pytest.raises(RunnerError, match="different networks"):
        container_addressing([one, two], engine="podman")  # type: ignore[list-item]


def test_two_emulators_for_one_variable_refused() -> None:
    other = HostEmulator("s3-again", "AWS_ENDPOINT_URL", port=9100)
    with pytest.raises(RunnerError, match="both set AWS_ENDPOINT_URL"):
        host_process_environment([S3, other])  # type: ignore[list-item]


def test_networked_detection_does_not_touch_a_stopped_emulator() -> None:
    from mldock.runners.addressing import is_networked

    assert is_networked(ContainerEmulator("gcs", "STORAGE_EMULATOR_HOST", network="stopped"))
    assert not is_networked(S3)
