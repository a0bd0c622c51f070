"""Vertex AI custom training and custom-container prediction started on the local engine the way Vertex AI
starts them, with Cloud Storage played by the GCS emulator.

    with GCSEmulator() as gcs, ResourceTracker(client) as tracker:
        harness = VertexHarness(client, "localhost/mldock/iris:1f2e3d4c5b6a", workdir=tmp, tracker=tracker, gcs=gcs)
        run = harness.train(TrainingJob({"train": Path("data/train")}, {"learning_rate": 0.1}, "iris"))
        run.exit_code, run.model_objects, run.hypertune_lines
        served = harness.serve(run.model_uri, payload=b'{"instances": [[1, 2]]}', content_type="application/json")
        served.probe["invoke"]["body"]                     # {"predictions": [...]}

Training — a CustomJob's worker pool with a custom container, run as a trial of a hyperparameter-tuning job
(the way a job's hyperparameters reach the container on Vertex AI):
- no command override and the job's args only: each hyperparameter as `--name=value` (what tuning appends to
  the container's args; with no hyperparameter the args are empty and the image's CMD runs);
- `AIP_MODEL_DIR`, `AIP_CHECKPOINT_DIR`, `AIP_TENSORBOARD_LOG_DIR`: `gs://` folders below the job's
  baseOutputDirectory (`<base>/<trial>/model/`, `checkpoints/`, `logs/` for a tuning trial);
- a managed dataset's splits as `AIP_TRAINING_DATA_URI` / `AIP_VALIDATION_DATA_URI` / `AIP_TEST_DATA_URI`,
  wildcards over sharded files (`gs://.../dataset/training-*`, files `training-00000-of-00002.csv`), with
  `AIP_DATA_FORMAT` (`csv` or `jsonl`): the stage's seed channels `train`, `validation` and `test`;
- `CLOUD_ML_PROJECT_ID`, `CLOUD_ML_JOB_ID`, `CLOUD_ML_TRIAL_ID`, `CLOUD_ML_HP_METRIC_FILE`
  (/tmp/hypertune/output.metrics, cloudml-hypertune's default), `CLUSTER_SPEC` (one replica of workerpool0);
- Cloud Storage FUSE: every bucket of the project under `/gcs/<bucket>/` (read-write); the harness mounts a
  folder holding the bucket's objects and copies what the job wrote there into the emulator after the exit;
- network to Cloud Storage: host networking to the GCS emulator (`STORAGE_EMULATOR_HOST`), the stand-in for
  the job's service account reaching the real service; no `MLDOCK_*` variable.

Prediction — a Model with a custom container deployed to an endpoint (and the SDK's `LocalModel`):
- no command override: the image's ENTRYPOINT and CMD as built;
- `AIP_HTTP_PORT`: the Model's first container port, here a free port that is not 8080;
- `AIP_HEALTH_ROUTE` `/v1/endpoints/<endpoint>/deployedModels/<id>` and `AIP_PREDICT_ROUTE` the same plus
  `:predict` (Vertex AI's values when the Model names no routes; both may also be set equal);
- `AIP_STORAGE_URI`: the `gs://` folder of the model's artifacts, which the container copies itself;
  `AIP_MODE=PREDICTION`, `AIP_MODE_VERSION`, `AIP_FRAMEWORK=CUSTOM_CONTAINER`, `AIP_PROJECT_NUMBER`,
  `AIP_ENDPOINT_ID`, `AIP_DEPLOYED_MODEL_ID`, `AIP_MODEL_NAME`, `AIP_MACHINE_TYPE`;
- GET on the health route until 200, then POST `{"instances": [...]}` to the predict route, answered with
  `{"predictions": [...]}`; a stop is SIGTERM, then SIGKILL after the pod's grace period (30 s).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mldock.engine import ResourceTracker
from mldock.errors import UserError
from mldock.harness.launch import Launcher, describe, logs_of
from mldock.harness.probe import probe_arguments
from mldock.harness.sagemaker import ServingRun, TrainingJob
from mldock.storage.uri import parse_uri

if TYPE_CHECKING:
    import docker

    from mldock.emulators import GCSEmulator

__all__ = [
    "DEFAULT_BUCKET",
    "ENDPOINT_STOP_DEADLINE",
    "HYPERTUNE_FILE",
    "VertexHarness",
    "VertexTrainingRun",
    "data_format",
    "job_args",
    "prediction_routes",
]

DEFAULT_BUCKET = "mldock-vertex-staging"
HYPERTUNE_FILE = "/tmp/hypertune/output.metrics"
ENDPOINT_STOP_DEADLINE = 30.0
"""Seconds from SIGTERM to SIGKILL for a prediction node (Kubernetes' default grace period)."""
PROJECT_ID = "mldock-contract"
PROJECT_NUMBER = "123456789012"
JOB_ID = "4242424242424242424"
TRIAL_ID = "1"
ENDPOINT_ID = "1111111111111111111"
DEPLOYED_MODEL_ID = "2222222222222222222"
SPLITS = {"train": ("training", "AIP_TRAINING_DATA_URI"), "validation": ("validation", "AIP_VALIDATION_DATA_URI"),
          "test": ("test", "AIP_TEST_DATA_URI")}  # fmt: skip
_FORMATS = {".csv": "csv", ".jsonl": "jsonl"}
_METRIC_LINE = "mldock-metric: "


@dataclass(frozen=True)
class VertexTrainingRun:
    """A finished training container: exit code, logs, what landed in the emulated Cloud Storage."""

    exit_code: int | None
    logs: str
    started_as: str
    model_uri: str
    model_objects: tuple[str, ...]
    fuse_objects: tuple[str, ...]
    """Objects the job wrote through /gcs (copied into the emulator after the exit)."""
    hypertune_lines: tuple[str, ...]

    @property
    def metrics_logged(self) -> int:
        """How many `mldock-metric:` lines the job logged."""
        return sum(1 for line in self.logs.splitlines() if _METRIC_LINE in line)


class VertexHarness(Launcher):
    """Runs one image as Vertex AI's custom training and prediction run it (see the module docstring)."""

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        *,
        workdir: Path,
        tracker: ResourceTracker,
        gcs: GCSEmulator,
        bucket: str = DEFAULT_BUCKET,
        timeout: float = 900.0,
        endpoint_deadline: float = ENDPOINT_STOP_DEADLINE,
    ) -> None:
        super().__init__(client, image, workdir=workdir, tracker=tracker, timeout=timeout)
        self.gcs, self.bucket, self.endpoint_deadline = gcs, bucket, endpoint_deadline
        self.remote = gcs.remote()
        gcs.create_bucket(bucket)

    # -- training -------------------------------------------------------------------------------------------

    def train(self, job: TrainingJob) -> VertexTrainingRun:
        """Run the image as a tuning trial of a CustomJob; what it left in the emulator."""
        root = self.fresh(f"vertex-training-{job.job_name}")
        base = f"gs://{self.bucket}/{job.job_name}"
        environment: dict[str, str] = {
            "AIP_MODEL_DIR": f"{base}/{TRIAL_ID}/model/",
            "AIP_CHECKPOINT_DIR": f"{base}/{TRIAL_ID}/checkpoints/",
            "AIP_TENSORBOARD_LOG_DIR": f"{base}/{TRIAL_ID}/logs/",
            **self._stage_dataset(job.channels, f"{base}/dataset", root),
            "CLOUD_ML_PROJECT_ID": PROJECT_ID,
            "CLOUD_ML_JOB_ID": JOB_ID,
            "CLOUD_ML_TRIAL_ID": TRIAL_ID,
            "CLOUD_ML_HP_METRIC_FILE": HYPERTUNE_FILE,
        }
        args = job_args(job.hyperparameters)
        environment["CLUSTER_SPEC"] = json.dumps(_cluster_spec(self.image, args))
        environment.update(self.gcs.env())
        hypertune = root / "hypertune"
        hypertune.mkdir()
        fuse = root / "gcs"
        before = self._fuse_snapshot(fuse)
        volumes = {
            str(hypertune): {"bind": str(Path(HYPERTUNE_FILE).parent), "mode": "rw"},
            str(fuse): {"bind": "/gcs", "mode": "rw"},
        }
        command = args or None  # no args: the image's CMD runs, as on Vertex AI
        started_as = describe(command, environment, volumes, network="host")
        container = self.start(
            "Vertex AI training", command=command, environment=environment, volumes=volumes, network="host"
        )
        code = self.wait(container, self.timeout)
        logs = logs_of(container)
        self.tracker.remove(container)
        written = self._fuse_flush(fuse, before, root / "fuse-written")
        model_uri = environment["AIP_MODEL_DIR"]
        objects = tuple(info.key for info in self.remote.list(parse_uri(model_uri)))
        metric_file = hypertune / Path(HYPERTUNE_FILE).name
        lines = tuple(metric_file.read_text(encoding="utf-8").splitlines()) if metric_file.is_file() else ()
        return VertexTrainingRun(code, logs, started_as, model_uri, objects, written, lines)

    def _stage_dataset(self, channels: Mapping[str, Path], prefix: str, root: Path) -> dict[str, str]:
        """Upload each split's files as Vertex AI exports a managed dataset; the AIP_* variables naming them."""
        environment: dict[str, str] = {}
        formats = set()
        for name, folder in channels.items():
            if name not in SPLITS:
                raise UserError(
                    f"channel {name!r}: a Vertex AI job gets data only as a managed dataset's splits "
                    f"({', '.join(SPLITS)}); rename the seed folder or give the channel as an MLDOCK_* variable"
                )
            split, variable = SPLITS[name]
            files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
            if not files:
                raise UserError(f"channel {name!r}: {folder} holds no file to hand over as the {split} split")
            formats.add(data_format(files, name))
            staging = root / "dataset" / split
            staging.mkdir(parents=True)
            for index, path in enumerate(files):
                shard = f"{split}-{index:05d}-of-{len(files):05d}{path.suffix.lower()}"
                (staging / shard).write_bytes(path.read_bytes())
            self.remote.upload(staging, parse_uri(prefix))
            environment[variable] = f"{prefix}/{split}-*"
        if len(formats) > 1:
            raise UserError(
                f"the splits mix formats ({', '.join(sorted(formats))}): Vertex AI gives one AIP_DATA_FORMAT"
            )
        if formats:
            environment["AIP_DATA_FORMAT"] = formats.pop()
        return environment

    def _fuse_snapshot(self, fuse: Path) -> dict[str, tuple[int, int]]:
        """Fill /gcs/<bucket> with the bucket's objects (Cloud Storage FUSE's view); their sizes and times."""
        folder = fuse / self.bucket
        folder.mkdir(parents=True)
        if self.remote.list(parse_uri(f"gs://{self.bucket}")):
            self.remote.download(parse_uri(f"gs://{self.bucket}"), folder)
        return {str(p.relative_to(folder)): _stamp(p) for p in folder.rglob("*") if p.is_file()}

    def _fuse_flush(self, fuse: Path, before: Mapping[str, tuple[int, int]], staging: Path) -> tuple[str, ...]:
        """Copy the files the job wrote or changed below /gcs/<bucket> into the emulator; their keys."""
        folder = fuse / self.bucket
        changed = sorted(
            key
            for key, path in ((str(p.relative_to(folder)), p) for p in folder.rglob("*") if p.is_file())
            if before.get(key) != _stamp(path)
        )
        if changed:
            for key in changed:
                (staging / key).parent.mkdir(parents=True, exist_ok=True)
                (staging / key).write_bytes((folder / key).read_bytes())
            self.remote.upload(staging, parse_uri(f"gs://{self.bucket}"))
        return tuple(changed)

    # -- prediction -----------------------------------------------------------------------------------------

    def upload_model(self, model_dir: Path, name: str = "model") -> str:
        """Put a model folder where a Model's artifactUri points (`gs://<bucket>/models/<name>/`); that URI."""
        uri = f"gs://{self.bucket}/models/{name}/"
        self.remote.upload(model_dir, parse_uri(uri))
        return uri

    def serve(
        self,
        model_uri: str,
        *,
        payload: bytes,
        content_type: str = "application/json",
        routes: tuple[str, str] | None = None,
        startup_timeout: float = 300.0,
    ) -> ServingRun:
        """Deploy the image with AIP_STORAGE_URI=`model_uri`, probe its routes, stop it with SIGTERM.

        `routes`: (health, predict); default Vertex AI's own (`prediction_routes()`).
        """
        health, predict = routes or prediction_routes()
        port = _free_port()
        environment = {
            "AIP_HTTP_PORT": str(port),
            "AIP_HEALTH_ROUTE": health,
            "AIP_PREDICT_ROUTE": predict,
            "AIP_STORAGE_URI": model_uri,
            "AIP_MODE": "PREDICTION",
            "AIP_MODE_VERSION": "1.0.0",
            "AIP_FRAMEWORK": "CUSTOM_CONTAINER",
            "AIP_PROJECT_NUMBER": PROJECT_NUMBER,
            "AIP_ENDPOINT_ID": ENDPOINT_ID,
            "AIP_DEPLOYED_MODEL_ID": DEPLOYED_MODEL_ID,
            "AIP_MODEL_NAME": "mldock-contract-model",
            "AIP_MACHINE_TYPE": "n1-standard-2",
            **self.gcs.env(),
        }
        files = tuple(info.key for info in self.remote.list(parse_uri(model_uri)))
        started_as = describe(None, environment, {}, network="host")
        container = self.start(
            "Vertex AI prediction", command=None, environment=environment, volumes={}, network="host"
        )
        arguments = probe_arguments(
            payload,
            content_type,
            accept="application/json",
            port=port,
            timeout=startup_timeout,
            ping_route=health,
            predict_route=predict,
            execution_route=None,
            attributes_header=None,
            body_limit=100_000,
        )
        status = self.probe(container, arguments)
        code, stopped_after = self.stop(container, self.endpoint_deadline)
        logs = logs_of(container)
        self.tracker.remove(container)
        return ServingRun(status, code, stopped_after, logs, files, "host", started_as)


def job_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """The args a tuning trial appends: `--name=value` (text as is, other values as JSON: 0.1, 20, true)."""
    return [
        f"--{name}={value if isinstance(value, str) else json.dumps(value)}" for name, value in hyperparameters.items()
    ]


def prediction_routes(endpoint_id: str = ENDPOINT_ID, deployed_model_id: str = DEPLOYED_MODEL_ID) -> tuple[str, str]:
    """Vertex AI's health and predict routes when the Model names none."""
    health = f"/v1/endpoints/{endpoint_id}/deployedModels/{deployed_model_id}"
    return health, f"{health}:predict"


def data_format(files: list[Path], channel: str) -> str:
    """`csv` or `jsonl` from the files' suffixes; UserError for anything Vertex AI does not export."""
    found = {_FORMATS.get(path.suffix.lower()) for path in files}
    if None in found or len(found) != 1:
        suffixes = ", ".join(sorted({path.suffix or "(none)" for path in files}))
        raise UserError(
            f"channel {channel!r}: Vertex AI exports a managed dataset as .csv or .jsonl files, not {suffixes}"
        )
    return str(found.pop())


def _cluster_spec(image: str, args: list[str]) -> dict[str, Any]:
    return {
        "cluster": {"workerpool0": ["workerpool0-0:2222"]},
        "environment": "cloud",
        "task": {"type": "workerpool0", "index": 0, "trial": TRIAL_ID},
        "job": {"worker_pool_specs": [{"replica_count": 1, "container_spec": {"image_uri": image, "args": args}}]},
    }


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _free_port() -> int:
    """A free port on this machine other than 8080 (the container listens on it with host networking)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != 8080:
            return port
