"""The container engine boundary: connect to a Docker Engine API (Docker or Podman), label what mldock
starts, remove it at the end, sweep what dead sessions left behind, and map docker-py's exceptions.

    from mldock.engine import ResourceTracker, connect, sweep_stale

    client = connect()                       # DOCKER_HOST, else a known socket that answers
    sweep_stale(client)                      # leftovers of killed sessions
    with ResourceTracker(client) as tracker:
        box = tracker.container(client.containers.run(image, detach=True, labels=tracker.labels))

Nothing here imports docker-py at import time.
"""

from __future__ import annotations

from mldock.engine.connect import KNOWN_SOCKETS, clone_client, connect, engine_url
from mldock.engine.errors import build_log_tail, engine_errors, map_docker_error
from mldock.engine.labels import (
    MANAGED_LABEL,
    OWNER_HOST_LABEL,
    OWNER_PID_LABEL,
    OWNER_START_LABEL,
    RUN_LABEL,
    SESSION_LABEL,
    managed_filter,
    owner_alive,
    resource_labels,
    session_id,
)
from mldock.engine.resources import ResourceTracker, SweepReport, remove_resource, sweep_stale

__all__ = [
    "KNOWN_SOCKETS",
    "MANAGED_LABEL",
    "OWNER_HOST_LABEL",
    "OWNER_PID_LABEL",
    "OWNER_START_LABEL",
    "RUN_LABEL",
    "SESSION_LABEL",
    "ResourceTracker",
    "SweepReport",
    "build_log_tail",
    "clone_client",
    "connect",
    "engine_errors",
    "engine_url",
    "managed_filter",
    "map_docker_error",
    "owner_alive",
    "remove_resource",
    "resource_labels",
    "session_id",
    "sweep_stale",
]
