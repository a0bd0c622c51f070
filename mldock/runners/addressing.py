"""How a task reaches the emulators: the variables it gets and, for a container, the network it joins.

    host_process_environment([s3, gcs])                      # a host process: each emulator's env() as is
    plan = container_addressing([s3, gcs], engine="podman")  # a container
    client.containers.run(image, environment=plan.environment, **plan.run_kwargs())

Emulators come in two kinds, and `spec.emulators` may hold either:

* host processes (`emulators.S3Emulator`, ...): from a container they are reached either through the
  host's network namespace (`network_mode="host"`: 127.0.0.1 is the host's loopback, so emulators bound to
  127.0.0.1 work as they are) or from the engine's bridge through the host gateway
  (`host.containers.internal` on Podman, `host.docker.internal` mapped to `host-gateway` on Docker), which
  needs emulators bound to a non-loopback address (start them with `host="0.0.0.0"`).
* containers on a private network (`emulators.containers`): they carry the network's name and answer by
  alias there (`network`, `container_env()`); the task container joins that network.

`mode="auto"` (the default) picks: no emulators → the engine's default network; host-process emulators only →
host networking; any emulator container → its network, with host-process emulators through the gateway.
`mode="bridge"` forces the gateway route (the fallback where host networking does not reach the caller's
loopback, e.g. Docker Desktop or a remote `DOCKER_HOST`); `mode="host"` forces host networking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from mldock.errors import RunnerError
from mldock.runners.host_environment import is_sdk_variable

if TYPE_CHECKING:
    from mldock.emulators.base import Emulator

__all__ = [
    "HOST_GATEWAY",
    "ContainerAddressing",
    "EngineKind",
    "NetworkMode",
    "NetworkedEmulator",
    "container_addressing",
    "host_process_environment",
    "is_networked",
    "loopback_sdk_variable",
]

NetworkMode = Literal["auto", "host", "bridge"]
EngineKind = Literal["podman", "docker"]

HOST_GATEWAY: Mapping[EngineKind, str] = {"podman": "host.containers.internal", "docker": "host.docker.internal"}
"""The name a bridged container uses for the host, per engine."""

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_LOOPBACK_ADDRESS = re.compile(r"(?:^|//|=|@)(?:127(?:\.\d{1,3}){3}|localhost|\[::1\])(?::\d+)?(?:[/;]|$)", re.I)


class NetworkedEmulator(Protocol):
    """An emulator running as a container on a private network, reachable there by alias
    (`emulators.containers`)."""

    name: str

    @property
    def network(self) -> str:
        """The engine network the emulator is attached to."""
        ...

    def container_env(self) -> Mapping[str, str]:
        """The SDK variables that reach the emulator from another container on `network`."""
        ...


def is_networked(emulator: object) -> bool:
    """True for an emulator that runs as a container on a network (it has `network` and `container_env()`).

    Looked up on the class: reading `network` of a stopped emulator container raises.
    """
    kind = type(emulator)
    return callable(getattr(kind, "container_env", None)) and hasattr(kind, "network")


@dataclass(frozen=True)
class ContainerAddressing:
    """Where a task container goes on the network and the emulator variables that work from there.

        plan = container_addressing(spec.emulators, engine="docker")
        plan.run_kwargs()    # {"network_mode": "host"} or {"network": ..., "extra_hosts": ...} or {}
    """

    environment: Mapping[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    """"host" for the host's network namespace; None for a bridge network."""
    network: str | None = None
    """A user-defined network to attach to (emulator containers), None for the engine's default."""
    extra_hosts: Mapping[str, str] = field(default_factory=dict)

    @property
    def host_network(self) -> bool:
        """True when the task shares the host's network (its ports are the host's: nothing to publish)."""
        return self.network_mode == "host"

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker-py's `containers.create`/`run`."""
        kwargs: dict[str, Any] = {}
        if self.network_mode is not None:
            kwargs["network_mode"] = self.network_mode
        if self.network is not None:
            kwargs["network"] = self.network
        if self.extra_hosts:
            kwargs["extra_hosts"] = dict(self.extra_hosts)
        return kwargs


def loopback_sdk_variable(variables: Mapping[str, str]) -> str | None:
    """The first SDK variable (endpoint, connection string, proxy) whose value names the host's loopback, or None.

    A container reaches such an address only on the host's network (`network_mode="host"`).
    """
    for name in sorted(variables):
        if is_sdk_variable(name) and name.upper() != "NO_PROXY" and _LOOPBACK_ADDRESS.search(variables[name]):
            return name
    return None


def host_process_environment(emulators: Sequence[Emulator]) -> dict[str, str]:
    """The variables a task running on the host gets: each emulator's `env()` as is."""
    return _merge((emulator.name, emulator.env()) for emulator in emulators)


def container_addressing(
    emulators: Sequence[Emulator], *, engine: EngineKind, mode: NetworkMode = "auto"
) -> ContainerAddressing:
    """Decide how a task container reaches `emulators` on `engine` (see the module docstring)."""
    networked = [cast("NetworkedEmulator", e) for e in emulators if is_networked(e)]
    on_host = [e for e in emulators if not is_networked(e)]
    networks = sorted({e.network for e in networked})
    if len(networks) > 1:
        raise RunnerError(
            f"the emulator containers are on different networks ({', '.join(networks)}); "
            "a task container joins one: start them on a shared network"
        )
    if mode == "host" and networked:
        raise RunnerError(
            "network mode 'host' cannot reach emulator containers on their private network; "
            "use mode 'auto' or 'bridge'"
        )
    use_host_network = mode == "host" or (mode == "auto" and bool(on_host) and not networked)
    if use_host_network:
        return ContainerAddressing(environment=host_process_environment(on_host), network_mode="host")

    gateway = HOST_GATEWAY[engine]
    for emulator in on_host:
        bound = getattr(emulator, "host", None)
        if bound in _LOOPBACK:
            raise RunnerError(
                f"the {emulator.name} emulator listens on {bound} only, which a bridged container cannot reach; "
                f"start it with host='0.0.0.0' (it is then reached as {gateway}), or use network mode 'host'"
            )
    environment = _merge(
        [(e.name, e.env(host=gateway)) for e in on_host] + [(e.name, e.container_env()) for e in networked]
    )
    extra_hosts = {gateway: "host-gateway"} if on_host and engine == "docker" else {}
    return ContainerAddressing(
        environment=environment, network=networks[0] if networks else None, extra_hosts=extra_hosts
    )


def _merge(parts: Iterable[tuple[str, Mapping[str, str]]]) -> dict[str, str]:
    """Merge (emulator name, variables) pairs; two emulators setting one variable is an error."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for name, variables in parts:
        for key, value in variables.items():
            if key in merged and merged[key] != value:
                raise RunnerError(
                    f"the {owner[key]} and {name} emulators both set {key}; give a run one emulator per cloud"
                )
            merged[key] = value
            owner[key] = name
    return merged
