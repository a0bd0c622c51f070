"""Labels tell a dead owner's resources from a live one's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from mldock.engine import (
    MANAGED_LABEL,
    OWNER_HOST_LABEL,
    OWNER_PID_LABEL,
    OWNER_START_LABEL,
    SESSION_LABEL,
    managed_filter,
    owner_alive,
    resource_labels,
    session_id,
)


def test_labels_name_this_process_and_session() -> None:
    labels = resource_labels({"io.mldock.run": "r1"})
    assert labels[MANAGED_LABEL] == "true"
    assert labels[SESSION_LABEL] == session_id()
    assert labels[OWNER_PID_LABEL] == str(os.getpid())
    assert labels[OWNER_HOST_LABEL] == socket.gethostname()
    assert labels["io.mldock.run"] == "r1"
    assert owner_alive(labels)


def test_a_reaped_owner_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    labels = {**resource_labels(), OWNER_PID_LABEL: str(child.pid)}
    labels.pop(OWNER_START_LABEL, None)
    assert not owner_alive(labels)


def test_a_reused_pid_with_another_start_time_is_dead() -> None:
    labels = {**resource_labels(), OWNER_START_LABEL: "1"}
    assert not owner_alive(labels)


def test_resources_of_other_hosts_and_foreign_resources_are_kept() -> None:
    assert owner_alive({**resource_labels(), OWNER_HOST_LABEL: "elsewhere", OWNER_PID_LABEL: "999999999"})
    assert owner_alive({"com.example": "x"})
    assert owner_alive(None)


def test_a_garbled_pid_is_dead() -> None:
    assert not owner_alive({**resource_labels(), OWNER_PID_LABEL: "abc"})


def test_managed_filter() -> None:
    assert managed_filter() == {"label": [f"{MANAGED_LABEL}=true"]}
    assert managed_filter("s1") == {"label": [f"{MANAGED_LABEL}=true", f"{SESSION_LABEL}=s1"]}
