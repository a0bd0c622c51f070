"""A two-node training run against the emulators uploads each output once.

Two `python -m mldock train` processes (or two containers of the project's image, through the docker runner)
of one run, started together, share the S3 and GCS emulators (pytest_mldock's
`s3_emulator` and `gcs_emulator` fixtures). Each node learns who it is from its platform's own variables (SageMaker's
resourceconfig.json, torchrun's / Azure ML's RANK, Vertex AI's CLUSTER_SPEC) and writes the same output files.
The S3 bucket keeps versions, so every PUT of a key leaves a version: each output key must have exactly one, written
by the leader; the GCS model channel must hold the leader's files only; the `logs` channel, named in
MLDOCK_UPLOAD_ON_ALL_NODES, holds one copy per node below `<uri>/<node>/`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from mldock.emulators.base import Emulator
from mldock.emulators.s3 import s3_client_kwargs
from mldock.storage.uri import parse_uri

pytestmark = pytest.mark.integration

BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"

TRAINER = """
def train(env):
    who = f"{env.cluster.node_name} rank {env.cluster.rank} of {env.cluster.world_size}"
    results = env.output_dir / "results"
    (results / "nested").mkdir(parents=True, exist_ok=True)
    (results / "summary.txt").write_text(who)
    (results / "nested" / "scores.csv").write_text("step,score\\n1,0.5\\n")
    (env.output_dir / "logs" / "node.log").write_text(who)
    (env.model_dir / "final" / "weights.bin").write_bytes(who.encode() * 100)
    env.log_metric("loss", 0.25, step=1)
"""


def _sagemaker(base: Path, node: int) -> dict[str, str]:
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": f"algo-{node + 1}", "hosts": ["algo-1", "algo-2"]})
    )
    return {}


def _torchrun(base: Path, node: int) -> dict[str, str]:
    return {"RANK": str(node), "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "node-0", "MASTER_PORT": "29500"}


def _vertex(base: Path, node: int) -> dict[str, str]:
    pools = {"workerpool0": ["primary-0:2222"], "workerpool1": ["worker-0:2222"]}
    task = {"type": f"workerpool{node}", "index": 0}
    return {"CLUSTER_SPEC": json.dumps({"cluster": pools, "task": task, "environment": "cloud"})}


PLATFORMS: dict[str, tuple[Callable[[Path, int], dict[str, str]], tuple[str, str]]] = {
    "sagemaker": (_sagemaker, ("algo-1", "algo-2")),
    "torchrun": (_torchrun, ("rank-0", "rank-1")),
    "vertex": (_vertex, ("workerpool0-0", "workerpool1-0")),
}


def _buckets(s3_emulator: Emulator, gcs_emulator: Emulator) -> tuple[Any, str, str]:
    """An S3 client, a fresh versioned S3 bucket and a fresh GCS bucket."""
    s3 = boto3.client("s3", **s3_client_kwargs(s3_emulator.endpoint_url))
    bucket = f"multinode-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    gcs_bucket = f"multinode-{uuid.uuid4().hex[:12]}"
    gcs_emulator.create_bucket(gcs_bucket)
    return s3, bucket, gcs_bucket


def _channels(bucket: str, gcs_bucket: str) -> dict[str, str]:
    return {
        "MLDOCK_OUTPUT_CHANNEL_RESULTS": f"s3://{bucket}/run/results",
        "MLDOCK_OUTPUT_CHANNEL_LOGS": f"s3://{bucket}/run/logs",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_FINAL": f"gs://{gcs_bucket}/run/model",
        "MLDOCK_UPLOAD_ON_ALL_NODES": "logs",
    }


def _assert_uploaded_once(
    s3: Any, bucket: str, gcs_emulator: Emulator, gcs_bucket: str, nodes: tuple[str, str], logs: list[str], tmp: Path
) -> None:
    """Each output key written once, by the leader; one log per node; the other node said what it skipped."""
    leader, other = nodes
    assert _versions(s3, bucket) == {
        "run/results/summary.txt": 1,
        "run/results/nested/scores.csv": 1,
        f"run/logs/{leader}/node.log": 1,
        f"run/logs/{other}/node.log": 1,
    }
    summary = s3.get_object(Bucket=bucket, Key="run/results/summary.txt")["Body"].read().decode()
    assert summary == f"{leader} rank 0 of 2"
    for node, rank in ((leader, 0), (other, 1)):
        log = s3.get_object(Bucket=bucket, Key=f"run/logs/{node}/node.log")["Body"].read().decode()
        assert log == f"{node} rank {rank} of 2"
    model = _gcs_objects(gcs_emulator, gcs_bucket, tmp)
    assert model == {"run/model/weights.bin": f"{leader} rank 0 of 2".encode() * 100}  # the leader's only
    for kind, name in (("output", "results"), ("output_model", "final")):
        assert f"cleanup: skipping {kind} channel {name!r} on {other}" in logs[1]
    assert "skipping" not in logs[0]


def _versions(client: Any, bucket: str) -> dict[str, int]:
    """Key -> how many versions (writes) the versioned bucket holds."""
    counts: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


@pytest.mark.parametrize("platform", list(PLATFORMS), ids=list(PLATFORMS))
def test_two_nodes_upload_each_output_once(
    platform: str, s3_emulator: Emulator, gcs_emulator: Emulator, tmp_path: Path
) -> None:
    variables, nodes = PLATFORMS[platform]
    s3, bucket, gcs_bucket = _buckets(s3_emulator, gcs_emulator)
    project = tmp_path / "project"
    project.mkdir()
    (project / "trainer.py").write_text(TRAINER)
    common = {
        **os.environ,
        **s3_emulator.env(),
        **gcs_emulator.env(),
        **_channels(bucket, gcs_bucket),
        "MLDOCK_PROJECT_DIR": str(project),
    }
    processes = []
    for node in range(2):
        base = tmp_path / f"node-{node}"
        environ = {**common, **variables(base, node), "MLDOCK_BASE_DIR": str(base)}
        command = [sys.executable, "-m", "mldock", "train"]
        processes.append(
            subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    _assert_uploaded_once(s3, bucket, gcs_emulator, gcs_bucket, nodes, [e for _, e in outputs], tmp_path / "back")


CONTAINER_PLATFORMS = {name: PLATFORMS[name] for name in ("torchrun", "vertex")}
"""The platforms whose cluster is in variables (SageMaker's is a file in the base dir the runner makes)."""


@pytest.mark.engine
@pytest.mark.parametrize("platform", list(CONTAINER_PLATFORMS), ids=list(CONTAINER_PLATFORMS))
def test_two_containers_upload_each_output_once(
    platform: str, s3_emulator: Emulator, gcs_emulator: Emulator, tmp_path: Path
) -> None:
    from mldock.engine import connect
    from mldock.image.base_image import ensure_base_image
    from mldock.project.config import load_project
    from mldock.runners.base import RunSpec
    from mldock.runners.docker import DockerRunner

    variables, nodes = CONTAINER_PLATFORMS[platform]
    s3, bucket, gcs_bucket = _buckets(s3_emulator, gcs_emulator)
    ensure_base_image(BASE_IMAGE, client=connect())
    project = tmp_path / "project"
    project.mkdir()
    (project / "trainer.py").write_text(TRAINER)
    (project / "requirements.txt").write_text("boto3\ngoogle-cloud-storage\n")
    config = {"name": "multinode", "base_image": BASE_IMAGE, "train": "trainer:train", "stages": {"test": {}}}
    (project / "mldock.json").write_text(json.dumps(config))
    loaded = load_project(project)
    specs = [
        RunSpec(
            loaded,
            loaded.stage("test"),
            "train",
            environment={**_channels(bucket, gcs_bucket), **variables(tmp_path / f"node-{node}", node)},
            emulators=(s3_emulator, gcs_emulator),
            timeout=300,
        )
        for node in range(2)
    ]
    with DockerRunner() as runner:
        runner.image_for(specs[0])  # built (or found) once, before both nodes start
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(runner.run, specs))
    for result in results:
        assert result.exit_code == 0, result.describe()
    _assert_uploaded_once(s3, bucket, gcs_emulator, gcs_bucket, nodes, [r.logs for r in results], tmp_path / "back")


def _gcs_objects(emulator: Emulator, bucket: str, folder: Path) -> dict[str, bytes]:
    """Every object below `gs://bucket/run`, read back through the emulator's remote."""
    emulator.remote().download(parse_uri(f"gs://{bucket}/run"), folder)
    return {"run/" + p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
