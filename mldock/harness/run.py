"""One contract run: a project's built image started as the platform starts it, judged item by item.

    report = run_contract(load_project("examples/sklearn-train"), "train")
    report = run_contract(load_project("examples/sklearn-serve"), "serve",
                          model_project=load_project("examples/sklearn-train"))
    print(report.table()); report.passed

The image is the project's content-hash tag (mldock.image.image_tag), the very image `mldock build` and
`pytest --mldock-runner docker` use: it is built only when the engine does not have it (same content, same
tag), never rebuilt. What a training job gets comes from one stage of the project (default `test`): its
`seed` folders are the channels' data and its hyperparameters are passed as SageMaker passes them. Serving
gets model.tar.gz from a training run of the project (or of `model_project`, or the `model` file or folder
given) and the project's sample payload (`payload.json`, else the first file in `payloads/`).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mldock import contract
from mldock.emulators import GCSEmulator
from mldock.engine import ResourceTracker, connect, engine_errors
from mldock.errors import UserError
from mldock.harness.azureml import AzureMLHarness
from mldock.harness.checks import (
    azureml_serving_items,
    azureml_training_items,
    serving_items,
    stopped_training_items,
    training_items,
    vertex_serving_items,
    vertex_training_items,
)
from mldock.harness.report import ContractReport
from mldock.harness.sagemaker import STEP_RUNNING, SageMakerHarness, TrainingJob, unpack
from mldock.harness.vertex import VertexHarness
from mldock.image import build_image, image_tag
from mldock.project.config import ProjectConfig
from mldock.runtime.channels import ChannelKind, is_channel_variable

if TYPE_CHECKING:
    import docker

__all__ = ["PLATFORMS", "TASKS", "ImageUnderTest", "image_under_test", "run_contract", "sample_payload"]

PLATFORMS = ("sagemaker", "vertex", "azureml")
TASKS = ("train", "serve")
Task = Literal["train", "serve"]
Progress = Callable[[str], None]
_NAMES = {"sagemaker": "SageMaker", "vertex": "Vertex AI", "azureml": "Azure ML"}
_CONTENT_TYPES = {".json": "application/json", ".csv": "text/csv", ".txt": "text/plain"}


@dataclass(frozen=True)
class ImageUnderTest:
    """The project's image: its content-hash tag and the engine's image ID."""

    tag: str
    image_id: str


def image_under_test(
    project: ProjectConfig, client: docker.DockerClient, progress: Progress | None = None
) -> ImageUnderTest:
    """The project's content-hash image, built only when the engine lacks that tag (never rebuilt)."""
    tag = image_tag(project)
    build_image(project, client=client, progress=progress)  # a no-op when the tag exists
    with engine_errors(f"looking up {tag}"):
        image = client.images.get(tag)
    return ImageUnderTest(tag, str(image.id))


def run_contract(
    project: ProjectConfig,
    task: Task,
    *,
    platform: str = "sagemaker",
    stage: str = "test",
    model: Path | None = None,
    model_project: ProjectConfig | None = None,
    payload: Path | None = None,
    stop: bool = False,
    client: docker.DockerClient | None = None,
    workdir: Path | None = None,
    progress: Progress | None = None,
) -> ContractReport:
    """Run `task`'s contract for `project` on `platform`; the report (the caller prints it and exits on it).

    `stop` (train, SageMaker): SIGTERM the job once its step runs, and check the stop deadline instead.
    UserError for an unknown platform or task, a stage without seeds, a project without a sample payload.
    """
    if platform not in PLATFORMS:
        raise UserError(f"--platform: {platform!r} is not supported; choose one of {', '.join(PLATFORMS)}")
    if task not in TASKS:
        raise UserError(f"--task: {task!r} is not a task; choose train or serve")
    if stop and (task != "train" or platform != "sagemaker"):
        raise UserError(
            "--stop: only SageMaker training documents its stop deadline; use --platform sagemaker --task train"
        )
    job = training_job(project, stage, stop=stop) if task == "train" else None
    if task == "serve":
        payload = payload or sample_payload(project)
        if model is None:
            _check_can_train(model_project or project, stage)
    client = client or connect()
    say = progress or (lambda _line: None)
    image = image_under_test(project, client, progress)
    report = ContractReport(platform, task, image.tag, image.image_id)
    with (
        tempfile.TemporaryDirectory(prefix="mldock-contract-", dir=workdir) as scratch,
        ResourceTracker(client) as tracker,
        contextlib.ExitStack() as stack,
    ):
        gcs = stack.enter_context(GCSEmulator()) if platform == "vertex" else None
        platform_run = _PlatformRun(platform, client, Path(scratch), tracker, gcs, say)
        if job is not None:
            platform_run.train(report, project, image.tag, job)
            return report
        assert payload is not None  # (found before the image was looked up)
        source = model_project or project
        served = (
            model if model is not None else platform_run.train_model(source, image_under_test(source, client), stage)
        )
        platform_run.serve(report, project, image.tag, served, payload)
    return report


class _PlatformRun:
    """One platform's harness for one contract run: train (and judge), train a model to serve, serve (and judge)."""

    def __init__(
        self,
        platform: str,
        client: docker.DockerClient,
        scratch: Path,
        tracker: ResourceTracker,
        gcs: GCSEmulator | None,
        say: Progress,
    ) -> None:
        self.platform, self.client, self.scratch, self.tracker, self.gcs, self.say = (
            platform, client, scratch, tracker, gcs, say
        )  # fmt: skip
        self._runs = 0

    def _workdir(self) -> Path:
        self._runs += 1
        return self.scratch / f"run-{self._runs}"

    def _sagemaker(self, tag: str) -> SageMakerHarness:
        return SageMakerHarness(self.client, tag, workdir=self._workdir(), tracker=self.tracker)

    def _vertex(self, tag: str) -> VertexHarness:
        assert self.gcs is not None
        return VertexHarness(self.client, tag, workdir=self._workdir(), tracker=self.tracker, gcs=self.gcs)

    def _azureml(self, tag: str) -> AzureMLHarness:
        return AzureMLHarness(self.client, tag, workdir=self._workdir(), tracker=self.tracker)

    def train(self, report: ContractReport, project: ProjectConfig, tag: str, job: TrainingJob) -> None:
        """Run `job` as the platform runs a training job, and judge it into `report`."""
        self.say(f"running {tag} as {_NAMES[self.platform]} runs a training job")
        models = model_channels(project)
        if self.platform == "vertex":
            vertex_run = self._vertex(tag).train(job)
            report.started_as, report.logs = vertex_run.started_as, vertex_run.logs
            vertex_training_items(report, vertex_run, models)
        elif self.platform == "azureml":
            azure_run = self._azureml(tag).train(job, outputs=azureml_outputs(project))
            report.started_as, report.logs = azure_run.started_as, azure_run.logs
            azureml_training_items(report, azure_run, models or {"model"})
        else:
            harness = self._sagemaker(tag)
            run = harness.train(job)
            report.started_as, report.logs = run.started_as, run.logs
            if job.stop_when_logged is not None:
                stopped_training_items(report, run, harness.training_deadline)
            else:
                training_items(report, run, models)

    def train_model(self, source: ProjectConfig, image: ImageUnderTest, stage: str) -> Path | str:
        """The model to serve, trained from `source` as the platform trains it: a file or folder, or (Vertex AI)
        the gs:// folder the job wrote in the emulator."""
        self.say(f"training {image.tag} as {_NAMES[self.platform]} does, for the model to serve")
        job = training_job(source, stage)
        code: int | None
        if self.platform == "vertex":
            vertex_run = self._vertex(image.tag).train(job)
            code, logs, found = vertex_run.exit_code, vertex_run.logs, bool(vertex_run.model_objects)
            model: Path | str = vertex_run.model_uri
        elif self.platform == "azureml":
            outputs = azureml_outputs(source)
            azure_run = self._azureml(image.tag).train(job, outputs=outputs)
            name = min(n for n, kind in outputs.items() if kind is ChannelKind.OUTPUT_MODEL)
            code, logs, model = azure_run.exit_code, azure_run.logs, azure_run.output_dirs[name]
            found = bool(azure_run.outputs[name])
        else:
            run = self._sagemaker(image.tag).train(job)
            code, logs, model, found = run.exit_code, run.logs, run.model_tar, True
        if code != 0 or not found:
            tail = "\n".join(logs.splitlines()[-15:])
            what = f"exit {code}" if code != 0 else "no model written"
            raise UserError(f"training {source.name} for the model to serve failed ({what}):\n{tail}")
        return model

    def serve(
        self, report: ContractReport, project: ProjectConfig, tag: str, model: Path | str, payload_file: Path
    ) -> None:
        """Serve `model` as the platform's endpoint does with the sample payload, and judge it into `report`."""
        self.say(f"running {tag} as {_NAMES[self.platform]} runs an endpoint")
        payload = payload_file.read_bytes()
        if self.platform == "vertex":
            harness = self._vertex(tag)
            if isinstance(model, Path):
                unpack(model, harness.workdir / "model")
                model = harness.upload_model(harness.workdir / "model")
            served = harness.serve(model, payload=payload, content_type=_content_type(payload_file))
            vertex_serving_items(report, served, payload)
        elif self.platform == "azureml":
            folder = min(channel_names(project, ChannelKind.INPUT_MODEL) or {"model"})  # registered from that folder
            served = self._azureml(tag).serve(
                Path(model), payload=payload, content_type=_content_type(payload_file), folder_name=folder
            )
            azureml_serving_items(report, served)
        else:
            served = self._sagemaker(tag).serve(Path(model), payload=payload, content_type=_content_type(payload_file))
            serving_items(report, served)
        report.started_as, report.logs = served.started_as, served.logs


def training_job(project: ProjectConfig, stage: str, *, stop: bool = False) -> TrainingJob:
    """The job a stage describes: its seed folders as channels, its hyperparameters; UserError without seeds."""
    config = project.stage(stage)
    if not config.seed:
        raise UserError(
            f'{project.config_file}: stage {stage!r} has no "seed" folders, so there is no data for the training '
            'channels; add e.g. "seed": {"train": "data/train"} or choose another --stage'
        )
    channels = {name: (project.root / folder).resolve() for name, folder in config.seed.items()}
    stop_when = STEP_RUNNING if stop else None
    return TrainingJob(channels, dict(config.hyperparameters), f"mldock-{project.name}"[:63], stop_when)


def model_channels(project: ProjectConfig) -> set[str]:
    """The output-model channel names any stage of `project` sets."""
    return channel_names(project, ChannelKind.OUTPUT_MODEL)


def azureml_outputs(project: ProjectConfig) -> dict[str, ChannelKind]:
    """A command job's outputs for `project`: its output-model channels (`model` when it sets none) and its
    output channels, each as the kind of channel argument its mounted folder is passed with."""
    outputs = dict.fromkeys(sorted(model_channels(project) or {"model"}), ChannelKind.OUTPUT_MODEL)
    for name in sorted(channel_names(project, ChannelKind.OUTPUT)):
        outputs.setdefault(name, ChannelKind.OUTPUT)
    return outputs


def channel_names(project: ProjectConfig, kind: ChannelKind) -> set[str]:
    """The names of the `kind` channels any stage of `project` sets (0.9.2 aliases included)."""
    aliases = {
        ChannelKind.OUTPUT_MODEL: "MLDOCK_MODEL_OUTPUT_CHANNEL_",
        ChannelKind.INPUT_MODEL: "MLDOCK_MODEL_INPUT_CHANNEL_",
    }
    prefixes = (kind.prefix, *([aliases[kind]] if kind in aliases else []))
    names = set()
    for stage in project.stages.values():
        for key in stage.environment:
            variable = key if key.startswith(contract.PREFIX) else contract.PREFIX + key
            for prefix in prefixes:
                if is_channel_variable(variable) and variable.startswith(prefix):
                    names.add(variable[len(prefix) :].lower())
    return names


def sample_payload(project: ProjectConfig) -> Path:
    """The project's sample request: `payload.json`, else the first file in `payloads/` (.json first)."""
    candidates = [project.root / "payload.json"]
    folder = project.root / "payloads"
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file())
        candidates += sorted(files, key=lambda p: (p.suffix != ".json", p.name))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UserError(f"{project.root}: no payload.json or payloads/ file to invoke the endpoint with; give --payload")


def _check_can_train(source: ProjectConfig, stage: str) -> None:
    if not source.stage(stage).seed:
        raise UserError(
            f'{source.config_file}: stage {stage!r} has no "seed" data to train the model to serve; give '
            "--model (a model.tar.gz or folder) or --model-from (the project that trains it)"
        )


def _content_type(payload: Path) -> str:
    return _CONTENT_TYPES.get(payload.suffix.lower(), "application/octet-stream")
