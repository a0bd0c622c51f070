"""Labelled resources are removed at the end of a session, on SIGTERM/SIGINT, and, after a SIGKILL, by the
next session's sweep; resources of a live owner are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from typing import TYPE_CHECKING

import pytest

from mldock.engine import RUN_LABEL, ResourceTracker, sweep_stale

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]

OWNER = textwrap.dedent(
    """
    import sys, time
    from mldock.engine import ResourceTracker, connect
    client = connect()
    tracker = ResourceTracker(client, labels={"io.mldock.run": sys.argv[1]})
    net = tracker.network(client.networks.create("mldock-hygiene-" + sys.argv[1], labels=tracker.labels))
    tracker.volume(client.volumes.create("mldock-hygiene-" + sys.argv[1], labels=tracker.labels))
    tracker.container(client.containers.run(
        sys.argv[2], ["python3", "-c", "import time; time.sleep(600)"], detach=True,
        labels=tracker.labels, network=net.name, name="mldock-hygiene-" + sys.argv[1],
    ))
    print("READY", flush=True)
    time.sleep(600)
    """
)


def labelled(engine: docker.DockerClient, run_id: str) -> dict[str, list[str]]:
    wanted = {"label": [f"{RUN_LABEL}={run_id}"]}
    return {
        "containers": [c.name for c in engine.containers.list(all=True, filters=wanted)],
        "networks": [n.name for n in engine.networks.list(filters=wanted)],
        "volumes": [v.name for v in engine.volumes.list(filters=wanted)],
    }


def start_owner(run_id: str, base_image: str) -> subprocess.Popen[str]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, run_id, base_image],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    if line.strip() != "READY":
        owner.kill()
        pytest.fail(f"the owner process did not start its resources: {line!r} (exit {owner.wait()})")
    return owner


def test_resources_of_a_killed_session_are_swept_at_the_next_start(engine: docker.DockerClient,
                                                                    base_image: str) -> None:
    run_id = uuid.uuid4().hex[:10]
    owner = start_owner(run_id, base_image)
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=30)
    left = labelled(engine, run_id)
    assert all(len(names) == 1 for names in left.values()), left  # SIGKILL leaves everything behind

    report = sweep_stale(engine)

    assert labelled(engine, run_id) == {"containers": [], "networks": [], "volumes": []}
    assert left["containers"][0] in report.containers
    assert left["networks"][0] in report.networks
    assert left["volumes"][0] in report.volumes


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signalled_session_removes_its_resources(engine: docker.DockerClient, base_image: str,
                                                   signum: signal.Signals) -> None:
    run_id = uuid.uuid4().hex[:10]
    owner = start_owner(run_id, base_image)
    owner.send_signal(signum)
    owner.wait(timeout=60)
    assert labelled(engine, run_id) == {"containers": [], "networks": [], "volumes": []}


def test_a_live_owner_is_not_swept_and_close_removes(engine: docker.DockerClient, base_image: str) -> None:
    run_id = uuid.uuid4().hex[:10]
    tracker = ResourceTracker(engine, labels={RUN_LABEL: run_id})
    try:
        tracker.container(
            engine.containers.run(
                base_image, ["python3", "-c", "import time; time.sleep(600)"], detach=True, labels=tracker.labels
            )
        )
        sweep_stale(engine)
        assert len(labelled(engine, run_id)["containers"]) == 1
    finally:
        tracker.close()
    assert labelled(engine, run_id)["containers"] == []
