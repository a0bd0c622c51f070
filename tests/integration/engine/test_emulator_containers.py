"""The emulators as containers started through testcontainers on a private network: seeded from the host
through the published port, read from a task container by alias, removed on stop; no Ryuk, no os.environ
writes; a fixed port on request; an emulator that exits fails its start with its logs."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest
from testcontainers.core.config import testcontainers_config
from testcontainers.core.labels import LABEL_SESSION_ID

from mldock.emulators._process import pick_port
from mldock.emulators.containers import (
    AZURITE_IMAGE,
    EMULATOR_LABEL,
    MOTO_IMAGE,
    AzuriteContainer,
    GCSEmulatorContainer,
    S3EmulatorContainer,
    create_network,
)
from mldock.engine import SESSION_LABEL, ResourceTracker, engine_errors, managed_filter
from mldock.errors import EmulatorStartError

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]

TASK = """
import json, os, urllib.request, boto3
s3 = boto3.client("s3")
buckets = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
body = s3.get_object(Bucket="inputs", Key="hello.txt")["Body"].read().decode()
gcs = os.environ["STORAGE_EMULATOR_HOST"] + "/storage/v1/b?project=p"
gcs_buckets = sorted(b["name"] for b in json.load(urllib.request.urlopen(gcs, timeout=10)).get("items", []))
print(json.dumps({"s3": buckets, "body": body, "gcs": gcs_buckets}))
"""


def test_a_task_container_reaches_the_emulators_by_alias(engine: docker.DockerClient, base_image: str) -> None:
    with ResourceTracker(engine, labels={"io.mldock.run": "emulator-network-test"}) as tracker:
        network = create_network(engine, tracker).name
        with (
            S3EmulatorContainer(client=engine, network=network) as s3,
            GCSEmulatorContainer(client=engine, network=network) as gcs,
        ):
            s3.create_bucket("inputs")
            s3.client().put_object(Bucket="inputs", Key="hello.txt", Body=b"from the host")
            gcs.create_bucket("models")
            assert s3.container_env()["AWS_ENDPOINT_URL"] == "http://s3:5000"
            assert gcs.container_env()["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
            with engine_errors("running the task container"):
                task = tracker.container(
                    engine.containers.run(
                        MOTO_IMAGE,  # has python and boto3
                        ["-c", TASK],
                        entrypoint=["python"],
                        detach=True,
                        network=network,
                        environment={**s3.container_env(), **gcs.container_env()},
                        labels=tracker.labels,
                    )
                )
                status = task.wait(timeout=120)
                logs = task.logs().decode()
            assert status["StatusCode"] == 0, logs
            result = json.loads(logs.strip().splitlines()[-1])
            assert result == {"s3": ["inputs"], "body": "from the host", "gcs": ["models"]}
            sessions = {s3.container.labels[SESSION_LABEL], gcs.container.labels[SESSION_LABEL]}
        # stopped: the emulator containers are gone, the shared network (owned by the tracker) still there
        left = engine.containers.list(all=True, filters=managed_filter(sessions.pop()))
        assert [c.name for c in left if c.labels.get("io.mldock.emulator")] == []


def test_an_emulator_container_removes_its_own_network(engine: docker.DockerClient, base_image: str) -> None:
    with GCSEmulatorContainer(client=engine) as gcs:
        network, name = gcs.network, gcs.container.name
        gcs.create_bucket("b-own-network")
        assert gcs.bucket_names() == ["b-own-network"]
    assert not [n for n in engine.networks.list(names=[network]) if n.name == network]
    assert not engine.containers.list(all=True, filters={"name": name})


def test_azurite_runs_in_a_container_built_from_the_hosts_azurite(engine: docker.DockerClient) -> None:
    with AzuriteContainer(client=engine) as azure:
        azure.create_bucket("inputs")
        assert azure.bucket_names() == ["inputs"]
        assert "http://azurite:10000/devstoreaccount1" in azure.container_env()["AZURE_STORAGE_CONNECTION_STRING"]
        assert azure.container.image.tags == [AZURITE_IMAGE]


def test_started_through_testcontainers_without_ryuk_or_environment_writes(engine: docker.DockerClient) -> None:
    environ_before = dict(os.environ)
    ryuk_before = testcontainers_config.ryuk_disabled
    with GCSEmulatorContainer(client=engine) as gcs:
        labels = gcs.container.labels
        assert labels.get(LABEL_SESSION_ID), labels  # testcontainers' own labels: it created the container
        assert labels[EMULATOR_LABEL] == "gcs"  # mldock's, for its sweep
        assert labels[SESSION_LABEL]
        ryuks = [c for c in engine.containers.list(all=True) if "ryuk" in " ".join(c.image.tags)]
        assert ryuks == []
    assert dict(os.environ) == environ_before
    assert testcontainers_config.ryuk_disabled == ryuk_before


def test_a_fixed_host_port_on_request(engine: docker.DockerClient) -> None:
    port = pick_port()
    with S3EmulatorContainer(client=engine, port=port) as s3:
        assert s3.endpoint_url == f"http://127.0.0.1:{port}"
        s3.create_bucket("fixed-port")
        assert s3.bucket_names() == ["fixed-port"]


class _BrokenGCS(GCSEmulatorContainer):
    def _command(self) -> list[str]:
        return ["-no-such-flag"]


def test_a_container_that_exits_fails_the_start_at_once_with_its_logs(engine: docker.DockerClient) -> None:
    with pytest.raises(EmulatorStartError) as caught:
        _BrokenGCS(client=engine, start_timeout=600).start()
    assert "exited before answering" in str(caught.value)
    assert "no-such-flag" in caught.value.log_tail
    assert not engine.containers.list(all=True, filters={"label": f"{EMULATOR_LABEL}=gcs", "status": "exited"})
