"""Labels on everything mldock starts, so a later session can tell whose it is and whether its owner is gone.

    labels = resource_labels({"io.mldock.run": run_id})
    client.containers.run(image, labels=labels, ...)
    owner_alive(container.labels)        # False once the process that started it is gone
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from functools import cache

__all__ = [
    "MANAGED_LABEL",
    "OWNER_HOST_LABEL",
    "OWNER_PID_LABEL",
    "OWNER_START_LABEL",
    "RUN_LABEL",
    "SESSION_LABEL",
    "managed_filter",
    "owner_alive",
    "process_start_time",
    "resource_labels",
    "session_id",
]

MANAGED_LABEL = "io.mldock.managed"
SESSION_LABEL = "io.mldock.session"
OWNER_PID_LABEL = "io.mldock.owner-pid"
OWNER_HOST_LABEL = "io.mldock.owner-host"
OWNER_START_LABEL = "io.mldock.owner-started"
"""The owner's start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart."""
RUN_LABEL = "io.mldock.run"
"""Conventional caller label for a run id."""


@cache
def _session_for(pid: int) -> str:
    return uuid.uuid4().hex


def session_id() -> str:
    """This process's session id (made on first use; a forked child gets its own)."""
    return _session_for(os.getpid())


def process_start_time(pid: int) -> str | None:
    """The start time of `pid` in clock ticks since boot, or None when it cannot be read (not Linux, gone)."""
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat from the state on (field 3), or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its closing parenthesis
    return text[text.rfind(")") + 2 :].split()


def resource_labels(extra: Mapping[str, str] | None = None, *, session: str | None = None) -> dict[str, str]:
    """The labels for a resource this process starts: managed, session, owner pid/host/start, plus `extra`."""
    pid = os.getpid()
    labels = {
        MANAGED_LABEL: "true",
        SESSION_LABEL: session or session_id(),
        OWNER_PID_LABEL: str(pid),
        OWNER_HOST_LABEL: socket.gethostname(),
    }
    started = process_start_time(pid)
    if started is not None:
        labels[OWNER_START_LABEL] = started
    labels.update(extra or {})
    return labels


def managed_filter(session: str | None = None) -> dict[str, list[str]]:
    """An Engine API `filters` value selecting mldock's resources (of one session when given)."""
    wanted = [f"{MANAGED_LABEL}=true"]
    if session:
        wanted.append(f"{SESSION_LABEL}={session}")
    return {"label": wanted}


def owner_alive(labels: Mapping[str, str] | None) -> bool:
    """Whether the process that labelled a resource may still be running.

    True (keep it) when the resource is not mldock's, belongs to another host, or its owner pid is alive with
    the recorded start time; False when the owner is certainly gone.
    """
    labels = labels or {}
    if labels.get(MANAGED_LABEL) != "true" or labels.get(OWNER_HOST_LABEL) != socket.gethostname():
        return True
    try:
        pid = int(labels.get(OWNER_PID_LABEL, ""))
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    if _state(pid) == "Z":
        return False  # a zombie: dead, only not yet reaped
    recorded = labels.get(OWNER_START_LABEL)
    if recorded is None:
        return True
    current = process_start_time(pid)
    return current is None or current == recorded
