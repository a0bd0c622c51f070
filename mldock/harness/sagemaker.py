"""SageMaker training and hosting started on the local engine the way SageMaker starts them.

    harness = SageMakerHarness(client, "localhost/mldock/iris:1f2e3d4c5b6a", workdir=tmp, tracker=tracker)
    run = harness.train(TrainingJob({"train": Path("data/train")}, {"epochs": 3}))
    run.exit_code, run.model_tar, run.failure_text
    served = harness.serve(run.model_tar, payload=b'{"instances": [[1, 2]]}', content_type="application/json")
    served.probe["ping"]["status"], served.stopped_after

Training (what SageMaker, and its SDK's local mode, give a container): `IMAGE train`; the three config files in
`/opt/ml/input/config` (hyperparameters.json with every value a string, JSON-quoted as the SDK writes them,
inputdataconfig.json, resourceconfig.json); each channel's data in `/opt/ml/input/data/<name>`; `/opt/ml/input`
mounted read-only; `/opt/ml/model`, `/opt/ml/output` and `/opt/ml/checkpoints` writable; `TRAINING_JOB_NAME`;
no network; no `MLDOCK_*` variable. After the exit `/opt/ml/model` is packed into model.tar.gz and
`/opt/ml/output/data` into output.tar.gz. A stop is SIGTERM, then SIGKILL 120 s later.

Hosting: `IMAGE serve`; model.tar.gz unpacked into a folder mounted read-only at `/opt/ml/model`, inside an
empty `/opt/ml` that is read-only too; no network (the probe runs inside, over loopback: mldock.harness.probe);
no `MLDOCK_*` variable. A stop is SIGTERM, then SIGKILL 30 s later.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mldock import contract
from mldock.engine import ResourceTracker
from mldock.harness.launch import Launcher, copy_tree, describe, logs_of
from mldock.harness.probe import probe_arguments

if TYPE_CHECKING:
    import docker

__all__ = [
    "CONTAINER_BASE",
    "STEP_RUNNING",
    "SageMakerHarness",
    "ServingRun",
    "TrainingJob",
    "TrainingRun",
    "pack",
    "unpack",
]

CONTAINER_BASE = str(contract.DEFAULT_BASE_DIR)
STEP_RUNNING = "step: running"
"""What the runtime logs when the training step starts."""


@dataclass(frozen=True)
class TrainingJob:
    """What a training job gets: channel data folders on the host, hyperparameters, a job name.

    `stop_when_logged`: send SIGTERM once the container's log holds this text (the stop-deadline scenario;
    STEP_RUNNING is the line the runtime logs when the training step starts).
    """

    channels: Mapping[str, Path]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    job_name: str = "mldock-contract"
    stop_when_logged: str | None = None


@dataclass(frozen=True)
class TrainingRun:
    """A finished training container: exit code (None when SIGKILLed at the deadline), logs, what it left."""

    exit_code: int | None
    logs: str
    root: Path
    model_tar: Path
    output_tar: Path | None
    stopped_after: float | None
    started_as: str

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def failure_text(self) -> str | None:
        """`/opt/ml/output/failure` as SageMaker reads it (its first 1024 characters), None when absent."""
        path = self.output_dir / "failure"
        if not path.is_file():
            return None
        return path.read_text(encoding="utf-8", errors="replace")[: contract.SAGEMAKER_FAILURE_LIMIT]


@dataclass(frozen=True)
class ServingRun:
    """A served and stopped container: the probe's findings, the exit after SIGTERM, logs."""

    probe: dict[str, Any]
    exit_code: int | None
    stopped_after: float | None
    logs: str
    model_files: tuple[str, ...]
    network_mode: str
    started_as: str


class SageMakerHarness(Launcher):
    """Runs one image as SageMaker's training and hosting run it (see the module docstring)."""

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        *,
        workdir: Path,
        tracker: ResourceTracker,
        timeout: float = 900.0,
        training_deadline: float = contract.SAGEMAKER_TRAINING_STOP_DEADLINE,
        endpoint_deadline: float = contract.SAGEMAKER_ENDPOINT_STOP_DEADLINE,
    ) -> None:
        super().__init__(client, image, workdir=workdir, tracker=tracker, timeout=timeout)
        self.training_deadline, self.endpoint_deadline = training_deadline, endpoint_deadline

    # -- training -------------------------------------------------------------------------------------------

    def train(self, job: TrainingJob) -> TrainingRun:
        """Run `IMAGE train` on SageMaker's layout; pack model.tar.gz (and output.tar.gz) from what it left."""
        root = self.fresh(f"training-{job.job_name}")
        config = root / "input" / "config"
        config.mkdir(parents=True)
        _write_json(config / "hyperparameters.json", {k: json.dumps(v) for k, v in job.hyperparameters.items()})
        _write_json(
            config / "inputdataconfig.json",
            {
                name: {
                    "ContentType": "application/octet-stream",
                    "TrainingInputMode": "File",
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
                for name in job.channels
            },
        )
        _write_json(
            config / "resourceconfig.json",
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"},
        )
        for name, source in job.channels.items():
            copy_tree(source, root / "input" / "data" / name)
        for folder in ("model", "output", "checkpoints"):
            (root / folder).mkdir()
        volumes = {
            str(root / "input"): {"bind": f"{CONTAINER_BASE}/input", "mode": "ro"},
            str(root / "model"): {"bind": f"{CONTAINER_BASE}/model", "mode": "rw"},
            str(root / "output"): {"bind": f"{CONTAINER_BASE}/output", "mode": "rw"},
            str(root / "checkpoints"): {"bind": f"{CONTAINER_BASE}/checkpoints", "mode": "rw"},
        }
        environment = {contract.SAGEMAKER_TRAINING_JOB_NAME: job.job_name}
        started_as = describe(["train"], environment, volumes)
        container = self.start("train", command=["train"], environment=environment, volumes=volumes)
        stopped_after: float | None = None
        if job.stop_when_logged is not None:
            self.wait_for_log(container, job.stop_when_logged)
            code, stopped_after = self.stop(container, self.training_deadline)
        else:
            code = self.wait(container, self.timeout)
        logs = logs_of(container)
        self.tracker.remove(container)
        model_tar = pack(root / "model", root / "model.tar.gz")
        output_data = root / "output" / "data"
        output_tar = pack(output_data, root / "output.tar.gz") if output_data.is_dir() else None
        return TrainingRun(code, logs, root, model_tar, output_tar, stopped_after, started_as)

    # -- hosting --------------------------------------------------------------------------------------------

    def serve(
        self, model: Path, *, payload: bytes, content_type: str, accept: str = "*/*", startup_timeout: float = 300.0
    ) -> ServingRun:
        """Run `IMAGE serve` on the unpacked `model` (model.tar.gz or a folder), probe it, stop it with SIGTERM."""
        root = self.fresh("hosting")
        base = root / "ml"
        (base / "model").mkdir(parents=True)
        model_dir = root / "model"
        files = unpack(model, model_dir)
        volumes = {
            str(base): {"bind": CONTAINER_BASE, "mode": "ro"},
            str(model_dir): {"bind": f"{CONTAINER_BASE}/model", "mode": "ro"},
        }
        started_as = describe(["serve"], {}, volumes)
        container = self.start("serve", command=["serve"], environment={}, volumes=volumes)
        arguments = probe_arguments(payload, content_type, accept=accept, timeout=startup_timeout)
        status = self.probe(container, arguments)
        code, stopped_after = self.stop(container, self.endpoint_deadline)
        logs = logs_of(container)
        network_mode = str(container.attrs.get("HostConfig", {}).get("NetworkMode", ""))
        self.tracker.remove(container)
        return ServingRun(status, code, stopped_after, logs, files, network_mode, started_as)


def pack(folder: Path, target: Path) -> Path:
    """`folder`'s content as a gzipped tar with its entries at the top level (SageMaker's model.tar.gz)."""
    with tarfile.open(target, "w:gz") as archive:
        for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
            archive.add(entry, arcname=entry.name)
    return target


def unpack(model: Path, target: Path) -> tuple[str, ...]:
    """Unpack model.tar.gz (or copy a folder) into `target`; the relative file names, sorted."""
    target.mkdir(parents=True, exist_ok=True)
    if model.is_dir():
        copy_tree(model, target)
    else:
        with tarfile.open(model, "r:*") as archive:
            archive.extractall(target, filter="data")
    return tuple(sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()))


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
