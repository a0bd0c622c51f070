"""A two-node training run against the emulators uploads each output once.

Two `python -m mldock train` processes of one run, started together, share the S3 and GCS emulators (pytest_mldock's
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
from pathlib import Path
from typing import Any

import boto3
import pytest

from mldock.emulators.base import Emulator
from mldock.emulators.s3 import s3_client_kwargs
from mldock.storage.uri import parse_uri

pytestmark = pytest.mark.integration

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
    s3 = boto3.client("s3", **s3_client_kwargs(s3_emulator.endpoint_url))
    bucket = f"multinode-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    gcs_bucket = f"multinode-{uuid.uuid4().hex[:12]}"
    gcs_emulator.create_bucket(gcs_bucket)
    project = tmp_path / "project"
    project.mkdir()
    (project / "trainer.py").write_text(TRAINER)
    common = {
        **os.environ,
        **s3_emulator.env(),
        **gcs_emulator.env(),
        "MLDOCK_PROJECT_DIR": str(project),
        "MLDOCK_OUTPUT_CHANNEL_RESULTS": f"s3://{bucket}/run/results",
        "MLDOCK_OUTPUT_CHANNEL_LOGS": f"s3://{bucket}/run/logs",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_FINAL": f"gs://{gcs_bucket}/run/model",
        "MLDOCK_UPLOAD_ON_ALL_NODES": "logs",
    }
    processes = []
    for node in range(2):
        base = tmp_path / f"node-{node}"
        extra = variables(base, node)
        environ = {**common, **extra, "MLDOCK_BASE_DIR": str(base)}
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "mldock", "train"],
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr

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

    assert _gcs_objects(gcs_emulator, gcs_bucket, tmp_path / "read-back") == {
        "run/model/weights.bin": f"{leader} rank 0 of 2".encode() * 100
    }

    other_log = outputs[1][1]
    for kind, name in (("output", "results"), ("output_model", "final")):
        assert f"cleanup: skipping {kind} channel {name!r} on {other}" in other_log
    assert "skipping" not in outputs[0][1]


def _gcs_objects(emulator: Emulator, bucket: str, folder: Path) -> dict[str, bytes]:
    """Every object below `gs://bucket/run`, read back through the emulator's remote."""
    emulator.remote().download(parse_uri(f"gs://{bucket}/run"), folder)
    return {"run/" + p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
