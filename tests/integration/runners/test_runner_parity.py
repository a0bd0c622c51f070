"""The same run gives the same result under both runners: `file://` channels, credentials set the way a user sets
them for the real cloud, optional channels, and what the report says the task received.

The docker cases build the demo project's image once per module (with boto3, for the S3 case).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_project import seed_files, tree, write_project

from mldock.emulators import S3Emulator
from mldock.project.config import ProjectConfig
from mldock.runners import RunSpec
from mldock.runners.base import Runner
from mldock.runners.docker import DockerRunner
from mldock.runners.process import ProcessRunner

pytestmark = [pytest.mark.integration]

RUNNERS = [
    pytest.param("process", id="process"),
    pytest.param("docker", id="docker", marks=pytest.mark.engine),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ProjectConfig:
    """One project folder for the module, so the docker runner builds its image once."""
    return write_project(tmp_path_factory.mktemp("parity") / "project", name="runner-parity", requirements="boto3\n")


@pytest.fixture(scope="module")
def real_cloud() -> Iterator[S3Emulator]:
    """moto playing AWS: the runs reach it only through the variables a user sets for the real cloud."""
    with S3Emulator(host="127.0.0.1") as s3:
        yield s3


def _runner(name: str, host_environ: dict[str, str] | None = None) -> Runner:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLDOCK_"))}
    environ.update(host_environ or {})
    if name == "docker":
        return DockerRunner(host_environ=environ, home=None)
    return ProcessRunner(host_environ=environ)


@pytest.mark.parametrize("runner_name", RUNNERS)
def test_file_channels_read_and_write_the_host_folders(
    runner_name: str, project: ProjectConfig, tmp_path: Path
) -> None:
    data = tmp_path / "data" / "train"
    expected = seed_files(data)
    results = tmp_path / "results"
    results.mkdir()
    environment = {
        "MLDOCK_INPUT_CHANNEL_TRAIN": data.as_uri(),
        "MLDOCK_OUTPUT_CHANNEL_COPY": (results / "copy").as_uri(),
        "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": (results / "model").as_uri(),
    }
    runner = _runner(runner_name)
    spec = RunSpec(
        project, project.stage("test"), environment=environment, hyperparameters={"copy": {"train": "copy"}}
    )
    result = runner.run(spec)
    result.assert_succeeded()
    assert tree(results / "copy") == expected
    assert json.loads((results / "model" / "params.json").read_text())["copy"] == {"train": "copy"}
    assert tree(data) == expected  # inputs are read, never written


@pytest.mark.parametrize("runner_name", RUNNERS)
def test_credentials_set_for_the_real_cloud_reach_the_task(
    runner_name: str, project: ProjectConfig, real_cloud: S3Emulator, tmp_path: Path
) -> None:
    client = real_cloud.client()
    bucket = f"parity-{runner_name}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="train/rows.csv", Body=b"x,y\n1,2\n")
    user_environment = {  # what `export ...` gives for the real cloud: no emulator, no MLDOCK_ variable
        "AWS_ENDPOINT_URL": real_cloud.endpoint_url,
        "AWS_ACCESS_KEY_ID": "AKIAPARITYEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "parity-secret-access-key",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    stage = project.stage("test")
    environment = {
        "MLDOCK_INPUT_CHANNEL_TRAIN": f"s3://{bucket}/train",
        "MLDOCK_OUTPUT_CHANNEL_COPY": f"s3://{bucket}/copy",
        "MLDOCK_INPUT_MODEL_CHANNEL_WARM": f"s3://{bucket}/no-warm-start-yet",
        "MLDOCK_OPTIONAL_CHANNELS": "warm",
    }
    result = _runner(runner_name, user_environment).run(
        RunSpec(project, stage, environment=environment, hyperparameters={"copy": {"train": "copy"}})
    )
    result.assert_succeeded()
    copied = client.get_object(Bucket=bucket, Key="copy/rows.csv")["Body"].read()
    assert copied == b"x,y\n1,2\n"
    assert "optional input_model channel 'warm' is empty" in result.logs
    assert result.environment["AWS_SECRET_ACCESS_KEY"] == "***"
    assert result.environment["AWS_ENDPOINT_URL"] == real_cloud.endpoint_url
    assert "parity-secret-access-key" not in result.logs + result.describe()


@pytest.mark.parametrize("runner_name", RUNNERS)
def test_without_credentials_the_task_cannot_reach_the_cloud(
    runner_name: str, project: ProjectConfig, real_cloud: S3Emulator
) -> None:
    """The control for the test above: the same run without the user's variables fails at startup."""
    result = _runner(
        runner_name, {"AWS_ENDPOINT_URL": real_cloud.endpoint_url, "AWS_EC2_METADATA_DISABLED": "true"}
    ).run(RunSpec(project, project.stage("test"), environment={"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://parity-none/train"}))
    assert result.exit_code != 0
    assert result.failure_reason is not None


@pytest.mark.engine
def test_resources_reach_the_created_container(project: ProjectConfig, tmp_path: Path) -> None:
    """The engine gets what a run asks for (no GPU here: the device request is what is checked)."""
    from mldock.engine import ResourceTracker

    data = tmp_path / "train"
    data.mkdir()
    runner = DockerRunner(home=None)
    spec = RunSpec(
        project,
        project.stage("test"),
        environment={"MLDOCK_INPUT_CHANNEL_TRAIN": data.as_uri()},
        resources={"gpus": "device=0,1", "shm_size": "96m", "cpus": 1.5, "memory": "300m"},
    )
    sent: list[dict[str, Any]] = []
    api = runner.client.api
    create_container = api.create_container

    def recording(*args: Any, **kwargs: Any) -> Any:  # what goes to the engine, which still creates it
        sent.append(dict(kwargs.get("host_config") or {}))
        return create_container(*args, **kwargs)

    api.create_container = recording  # type: ignore[method-assign]
    try:
        with ResourceTracker(runner.client) as tracker:
            container = runner.create(spec, tracker)
            container.reload()
            host = container.attrs["HostConfig"]
            assert host["ShmSize"] == 96 * 1024**2
            assert host["NanoCpus"] == 1_500_000_000 or host["CpuQuota"] / host["CpuPeriod"] == 1.5
            assert host["Memory"] == 300 * 1024**2
            mounted = [m["Destination"] for m in container.attrs["Mounts"] if m["Source"] == str(data)]
            assert mounted == ["/mldock/host/channels/input/train/train"]
    finally:
        del api.create_container
    # Podman 4.3 does not echo DeviceRequests in its inspect answer: the request sent is what is checked
    (request,) = sent[0]["DeviceRequests"]
    assert request["DeviceIDs"] == ["0", "1"]
    assert request["Capabilities"] == [["gpu"]]


@pytest.mark.parametrize("runner_name", RUNNERS)
def test_serving_answers_on_the_port_asked_for_with_nothing_in_between(
    runner_name: str, project: ProjectConfig
) -> None:
    """`mldock serve --port` relies on this: the task's own port is published there (every method and header
    reach the container; HEAD /ping answers as the container does)."""
    import urllib.request

    from mldock.runners.serving import free_port

    port = free_port()
    with _runner(runner_name).serve(RunSpec(project, project.stage("test")), port=port) as endpoint:
        assert endpoint.url == f"http://127.0.0.1:{port}"
        head = urllib.request.Request(f"{endpoint.url}/ping", method="HEAD")
        with urllib.request.urlopen(head, timeout=10) as answer:
            assert answer.status == 200
            assert answer.read() == b""
        assert endpoint.invoke(b"{\"x\": [1, 2]}").json() == {"y": [3.0, 6.0]}
