"""Find and connect to a Docker Engine API (Docker or Podman's Docker-compatible service).

    client = connect()            # DOCKER_HOST when set, else the first known socket that answers
    client.ping()
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mldock.engine.errors import map_docker_error
from mldock.errors import EngineError

if TYPE_CHECKING:
    import docker

__all__ = ["KNOWN_SOCKETS", "clone_client", "connect", "engine_url"]

KNOWN_SOCKETS: tuple[str, ...] = (
    "/var/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/mldock/podman.sock",
)
"""Sockets tried in order when DOCKER_HOST is not set (the last one is what scripts/install-podman.sh starts)."""

_PROBE_VERSION = "1.41"
"""Used only for the first, unversioned `_ping` (and when the engine does not say its version)."""

_HOW_TO_START = (
    "start one: `bash scripts/install-podman.sh` (Debian/Ubuntu, as root: Podman's Docker-compatible service), "
    "or start Docker/Podman yourself and set DOCKER_HOST (see docs/containers.md)"
)


def connect(
    environ: Mapping[str, str] | None = None,
    *,
    sockets: Sequence[str] = KNOWN_SOCKETS,
    timeout: float = 120.0,
) -> docker.DockerClient:
    """A client for the engine at DOCKER_HOST, else at the first of `sockets` that answers `_ping`.

    Raises EngineError naming what was tried and how to start an engine.
    """
    import docker  # deferred: tooling only

    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST", "").strip()
    if host:
        try:
            probe = docker.from_env(environment=dict(env), version=_PROBE_VERSION, timeout=int(timeout))
            version = _negotiate(probe)
            client = docker.from_env(environment=dict(env), version=version, timeout=int(timeout))
        except Exception as exc:
            raise EngineError(
                f"the container engine at DOCKER_HOST={host} does not answer ({map_docker_error(exc)}); "
                f"fix DOCKER_HOST or {_HOW_TO_START}"
            ) from exc
        return client
    tried: list[str] = []
    for path in sockets:
        if not Path(path).is_socket():
            tried.append(f"{path} (absent)")
            continue
        try:
            probe = docker.DockerClient(base_url=f"unix://{path}", version=_PROBE_VERSION, timeout=int(timeout))
            version = _negotiate(probe)
            client = docker.DockerClient(base_url=f"unix://{path}", version=version, timeout=int(timeout))
        except Exception as exc:
            tried.append(f"{path} ({type(exc).__name__})")
            continue
        return client
    raise EngineError(f"no container engine answers: DOCKER_HOST is not set; tried {', '.join(tried)}; {_HOW_TO_START}")


def _negotiate(probe: docker.DockerClient) -> str:
    """Ping (unversioned) and return the engine's API version, capped at docker-py's default.

    `version="auto"` would ask `/version`, which takes about a second on Podman; `_ping` carries the same
    number in its `Api-Version` header within milliseconds.
    """
    from docker.constants import DEFAULT_DOCKER_API_VERSION

    try:
        response = probe.api._get(probe.api.base_url + "/_ping")
        response.raise_for_status()
    finally:
        probe.close()
    server = response.headers.get("Api-Version", "")
    return min(server, DEFAULT_DOCKER_API_VERSION, key=_version_key) if server else _PROBE_VERSION


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def engine_url(client: docker.DockerClient) -> str:
    """The address the client talks to (e.g. unix:///run/mldock/podman.sock), for messages and helper clients."""
    socket_path = getattr(getattr(client.api, "_custom_adapter", None), "socket_path", None)
    if isinstance(socket_path, str) and socket_path:
        return f"unix://{socket_path}"
    return str(client.api.base_url).replace("http://", "tcp://")


def clone_client(client: docker.DockerClient, *, timeout: float = 30.0) -> docker.DockerClient:
    """A fresh client for the same engine (its own connection pool: usable from a signal handler).

    TLS settings are not cloned: callers fall back to `client` itself when this one cannot connect.
    """
    import docker

    url = engine_url(client)
    return docker.DockerClient(base_url=url, version=client.api.api_version, timeout=int(timeout))
