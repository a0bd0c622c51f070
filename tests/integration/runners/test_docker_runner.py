"""The docker runner through the real engine: the project's image built once, run against the three emulators."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_project import seed_files, tree, write_project

from mldock.emulators import AzureBlobEmulator, GCSEmulator, S3Emulator
from mldock.engine import connect, managed_filter, session_id
from mldock.errors import RunnerError
from mldock.project.config import ProjectConfig
from mldock.runners import RunSpec
from mldock.runners.docker import DockerRunner

pytestmark = [pytest.mark.engine, pytest.mark.integration]

REQUIREMENTS = "boto3\ngoogle-cloud-storage\nazure-storage-blob\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ProjectConfig:
    """One project folder for the module, so its image is built once and every test reuses it."""
    return write_project(tmp_path_factory.mktemp("docker-runner") / "project", requirements=REQUIREMENTS)


@pytest.fixture(scope="module")
def runner(project: ProjectConfig) -> Iterator[DockerRunner]:
    with DockerRunner() as runner:
        runner.image_for(RunSpec(project, project.stage("test")))  # build (or find) the image once, up front
        yield runner


@pytest.fixture(autouse=True)
def no_leftover_containers() -> Iterator[None]:
    """Every test leaves no container of this session behind."""
    yield
    client = connect()
    left = client.containers.list(all=True, filters=managed_filter(session_id()))
    assert not left, f"containers left behind: {[c.name for c in left]}"


@pytest.fixture(scope="module")
def cloud() -> Iterator[dict[str, Any]]:
    """The three emulators as host processes, on 0.0.0.0 so both host networking and the bridge reach them."""
    with S3Emulator(host="0.0.0.0") as s3, GCSEmulator(host="0.0.0.0") as gcs, AzureBlobEmulator(host="0.0.0.0") as az:
        yield {"s3": s3, "gcs": gcs, "azure": az}


def _gcs_client(cloud: dict[str, Any]) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": cloud["gcs"].endpoint_url},
    )


def _seed(cloud: dict[str, Any], bucket: str, files: dict[str, bytes]) -> None:
    """Upload `files` below `train/` in `bucket` of each emulator, through each cloud's SDK."""
    s3 = cloud["s3"].client()
    s3.create_bucket(Bucket=bucket)
    gcs = _gcs_client(cloud)
    gcs_bucket = gcs.create_bucket(bucket)
    container = cloud["azure"].client().create_container(bucket)
    for rel, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"train/{rel}", Body=data)
        gcs_bucket.blob(f"train/{rel}").upload_from_string(data)
        container.upload_blob(f"train/{rel}", data)


def _read_back(cloud: dict[str, Any], bucket: str, prefix: str) -> dict[str, dict[str, bytes]]:
    """What each emulator holds below `prefix/` in `bucket`, read through each cloud's SDK."""
    s3 = cloud["s3"].client()
    got: dict[str, dict[str, bytes]] = {"s3": {}, "gcs": {}, "azure": {}}
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", []):
        got["s3"][obj["Key"][len(prefix) + 1 :]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    gcs = _gcs_client(cloud)
    for blob in gcs.list_blobs(bucket, prefix=f"{prefix}/"):
        got["gcs"][blob.name[len(prefix) + 1 :]] = blob.download_as_bytes()
    az = cloud["azure"].client().get_container_client(bucket)
    for item in az.list_blobs(name_starts_with=f"{prefix}/"):
        got["azure"][item.name[len(prefix) + 1 :]] = az.download_blob(item.name).readall()
    return got


def _channels(bucket: str) -> dict[str, str]:
    return {
        "MLDOCK_INPUT_CHANNEL_FROM_S3": f"s3://{bucket}/train",
        "MLDOCK_INPUT_CHANNEL_FROM_GCS": f"gs://{bucket}/train",
        "MLDOCK_INPUT_CHANNEL_FROM_AZ": f"az://{bucket}/train",
        "MLDOCK_OUTPUT_CHANNEL_TO_S3": f"s3://{bucket}/out",
        "MLDOCK_OUTPUT_CHANNEL_TO_GCS": f"gs://{bucket}/out",
        "MLDOCK_OUTPUT_CHANNEL_TO_AZ": f"az://{bucket}/out",
    }


COPY = {"from_s3": "to_s3", "from_gcs": "to_gcs", "from_az": "to_az"}


@pytest.mark.parametrize("network", ["auto", "bridge"], ids=["host-network", "bridge-gateway"])
def test_training_against_three_emulators_byte_for_byte(
    project: ProjectConfig, runner: DockerRunner, cloud: dict[str, Any], tmp_path: Path, network: str
) -> None:
    files = seed_files(tmp_path / "seed")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    _seed(cloud, bucket, files)
    spec = RunSpec(
        project,
        project.stage("test"),
        environment=_channels(bucket),
        hyperparameters={"copy": COPY},
        emulators=[cloud["s3"], cloud["gcs"], cloud["azure"]],
        timeout=300,
    )
    with DockerRunner(runner.client, image=runner.image_for(spec), network=network) as this:  # type: ignore[arg-type]
        result = this.run(spec)
        result.assert_succeeded()
        assert result.base_dir is not None
        for channel in ("from_s3", "from_gcs", "from_az"):
            assert tree(result.base_dir / "input" / "data" / channel) == files, channel
    assert _read_back(cloud, bucket, "out") == {"s3": files, "gcs": files, "azure": files}
    endpoint = result.environment["AWS_ENDPOINT_URL"]
    assert ("127.0.0.1" in endpoint) if network == "auto" else ("host.containers.internal" in endpoint)
    assert result.environment["AZURE_STORAGE_CONNECTION_STRING"] == "***"
    assert result.environment["AWS_SECRET_ACCESS_KEY"] == "***"


def test_failing_container_surfaces_failure_file_and_exit_code(project: ProjectConfig, runner: DockerRunner) -> None:
    result = runner.run(RunSpec(project, project.stage("test"), hyperparameters={"mode": "fail"}, timeout=300))
    assert result.exit_code == 1
    assert not result.timed_out
    result.assert_failed(match="deliberate failure")
    assert result.base_dir is not None
    assert (result.base_dir / "output" / "failure").read_text() == result.failure
    assert "deliberate failure" in result.logs

    spec = RunSpec(project, project.stage("test"), hyperparameters={"mode": "fail"}, timeout=300)
    again = DockerRunner(runner.client, image=runner.image_for(spec), copy_base_dir=False).run(spec)
    assert again.base_dir is None
    assert again.failure == result.failure


def test_timeout_stops_the_container_and_says_so(project: ProjectConfig, runner: DockerRunner) -> None:
    result = runner.run(RunSpec(project, project.stage("test"), hyperparameters={"mode": "sleep"}, timeout=3))
    assert result.timed_out
    assert not result.succeeded
    assert "timed out after 3s" in result.logs
    assert "timed out" in result.describe()


@pytest.mark.parametrize(
    ("network", "environment"),
    [("auto", {}), ("host", {}), ("auto", {"AIP_HTTP_PORT": "9090"})],
    ids=["published-port", "host-network", "vertex-port"],
)
def test_serving_ping_and_invocations(
    project: ProjectConfig, runner: DockerRunner, network: str, environment: dict[str, str]
) -> None:
    lines: list[str] = []
    spec = RunSpec(project, project.stage("test"), task="serve", hyperparameters={"scale": 10}, environment=environment)
    image = runner.image_for(spec)
    this = DockerRunner(runner.client, image=image, network=network, log=lines.append)  # type: ignore[arg-type]
    with this.serve(spec) as endpoint:
        assert endpoint.ping() == 200
        response = endpoint.invoke({"x": [1, 2.5]})
        assert response.status == 200, response.text
        assert response.json() == {"y": [10.0, 25.0]}
        assert endpoint.invoke(b"not json").status == 500
        assert "predictor loaded in stage test" in endpoint.logs()
    assert any("cleanup: done" in line for line in lines), "serving stopped gracefully (cleanup ran)"
    with pytest.raises(RunnerError):
        endpoint.invoke({"x": [1]})


def test_serving_that_dies_raises_with_logs(project: ProjectConfig, runner: DockerRunner) -> None:
    spec = RunSpec(project, project.stage("test"), task="serve", environment={"MLDOCK_SERVE": "nowhere:Missing"})
    with pytest.raises(RunnerError, match=r"exited with code \d+(.|\n)*nowhere"), runner.serve(spec, ready_timeout=60):
        pass


def test_image_cache_hit_does_not_rebuild(project: ProjectConfig, runner: DockerRunner) -> None:
    from mldock.image import build_image

    first = runner.image_for(RunSpec(project, project.stage("test")))
    again = build_image(project, client=runner.client)
    assert again.tag == first
    assert not again.rebuilt


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_removes_its_container(project: ProjectConfig, runner: DockerRunner, signum: int) -> None:
    """Ctrl-C or SIGTERM in the middle of a run: the runner process removes its container before it exits."""
    marker = uuid.uuid4().hex[:12]
    child = _start_sleeping_run(project, runner, marker)
    marked = {"label": [f"test.marker={marker}"]}
    client = connect()
    try:
        _wait_running(client, marked, child)
        child.send_signal(signum)
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0
    assert not client.containers.list(all=True, filters=marked), "the interrupted run left its container"


def _start_sleeping_run(project: ProjectConfig, runner: DockerRunner, marker: str) -> subprocess.Popen[bytes]:
    script = textwrap.dedent(
        f"""
        from mldock.project.config import load_project
        from mldock.runners import RunSpec
        from mldock.runners.docker import DockerRunner
        project = load_project({str(project.root)!r})
        spec = RunSpec(project, project.stage("test"), hyperparameters={{"mode": "sleep"}},
                       labels={{"test.marker": {marker!r}}})
        DockerRunner(image={runner.image_for(RunSpec(project, project.stage("test")))!r}).run(spec)
        """
    )
    return subprocess.Popen([sys.executable, "-c", script])


def _wait_running(client: Any, marked: dict[str, list[str]], child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not client.containers.list(filters={**marked, "status": "running"}):
        assert child.poll() is None, "the runner process died before its container ran"
        assert time.monotonic() < deadline, "the container never started"
        time.sleep(0.2)


def test_interrupted_session_leaves_nothing_behind(project: ProjectConfig, runner: DockerRunner) -> None:
    """A runner process killed outright leaves its container; the next runner to start removes it."""
    marker = uuid.uuid4().hex[:12]
    client = connect()
    marked = {"label": [f"test.marker={marker}"]}
    child = _start_sleeping_run(project, runner, marker)
    try:
        _wait_running(client, marked, child)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert client.containers.list(all=True, filters=marked), "SIGKILL gives the runner no chance to clean up"
    DockerRunner().client  # noqa: B018 - a new runner's first use sweeps what dead sessions left
    assert not client.containers.list(all=True, filters=marked)


def test_training_against_emulator_containers_on_their_network(
    project: ProjectConfig, runner: DockerRunner, tmp_path: Path
) -> None:
    """Emulators running as containers: the task container joins their private network and uses the aliases."""
    from mldock.emulators.containers import GCSEmulatorContainer, S3EmulatorContainer, create_network
    from mldock.engine import ResourceTracker

    files = seed_files(tmp_path / "seed")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    client = runner.client
    with ResourceTracker(client) as tracker:
        network = create_network(client, tracker).name
        s3 = S3EmulatorContainer(client=client, network=network)
        gcs = GCSEmulatorContainer(client=client, network=network)
        try:
            s3.start()
            gcs.start()
            cloud = {"s3": s3, "gcs": gcs}
            s3.client().create_bucket(Bucket=bucket)
            gcs_bucket = _gcs_client(cloud).create_bucket(bucket)
            for rel, data in files.items():
                s3.client().put_object(Bucket=bucket, Key=f"train/{rel}", Body=data)
                gcs_bucket.blob(f"train/{rel}").upload_from_string(data)
            channels = {k: v for k, v in _channels(bucket).items() if "_AZ" not in k}
            spec = RunSpec(
                project,
                project.stage("test"),
                environment=channels,
                hyperparameters={"copy": {"from_s3": "to_s3", "from_gcs": "to_gcs"}},
                emulators=[s3, gcs],
                timeout=300,
            )
            result = runner.run(spec)
            result.assert_succeeded()
            assert result.environment["AWS_ENDPOINT_URL"] == s3.container_env()["AWS_ENDPOINT_URL"]
            assert result.environment["STORAGE_EMULATOR_HOST"] == gcs.container_env()["STORAGE_EMULATOR_HOST"]
            got = {
                obj["Key"][4:]: s3.client().get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                for obj in s3.client().list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]
            }
            assert got == files
            gcs_got = {b.name[4:]: b.download_as_bytes() for b in _gcs_client(cloud).list_blobs(bucket, prefix="out/")}
            assert gcs_got == files
        finally:
            gcs.stop()
            s3.stop()
