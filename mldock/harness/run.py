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

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mldock import contract
from mldock.engine import ResourceTracker, connect, engine_errors
from mldock.errors import UserError
from mldock.harness.checks import serving_items, stopped_training_items, training_items
from mldock.harness.report import ContractReport
from mldock.harness.sagemaker import STEP_RUNNING, SageMakerHarness, TrainingJob, TrainingRun
from mldock.image import build_image, image_tag
from mldock.project.config import ProjectConfig
from mldock.runtime.channels import ChannelKind, is_channel_variable

if TYPE_CHECKING:
    import docker

__all__ = ["PLATFORMS", "TASKS", "ImageUnderTest", "image_under_test", "run_contract", "sample_payload"]

PLATFORMS = ("sagemaker",)
TASKS = ("train", "serve")
Task = Literal["train", "serve"]
Progress = Callable[[str], None]
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

    `stop` (train): SIGTERM the job once its step runs, and check the stop deadline instead of a full run.
    UserError for an unknown platform or task, a stage without seeds, a project without a sample payload.
    """
    if platform not in PLATFORMS:
        raise UserError(f"--platform: {platform!r} is not supported; choose one of {', '.join(PLATFORMS)}")
    if task not in TASKS:
        raise UserError(f"--task: {task!r} is not a task; choose train or serve")
    if task == "train":
        job = training_job(project, stage, stop=stop)
    else:
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
    ):
        harness = SageMakerHarness(client, image.tag, workdir=Path(scratch), tracker=tracker)
        if task == "train":
            say(f"running {image.tag} train as SageMaker does")
            run = harness.train(job)
            report.started_as, report.logs = run.started_as, run.logs
            if stop:
                stopped_training_items(report, run, harness.training_deadline)
            else:
                training_items(report, run, model_channels(project))
            return report
        payload_file = payload or sample_payload(project)  # (found before the image was looked up)
        model_file = model or _trained_model(project, model_project, stage, client, harness, say)
        say(f"running {image.tag} serve as SageMaker hosting does")
        served = harness.serve(model_file, payload=payload_file.read_bytes(), content_type=_content_type(payload_file))
        report.started_as, report.logs = served.started_as, served.logs
        serving_items(report, served)
    return report


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
    prefixes = (ChannelKind.OUTPUT_MODEL.prefix, "MLDOCK_MODEL_OUTPUT_CHANNEL_")
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


def _trained_model(
    project: ProjectConfig,
    model_project: ProjectConfig | None,
    stage: str,
    client: docker.DockerClient,
    harness: SageMakerHarness,
    say: Progress,
) -> Path:
    """model.tar.gz from a SageMaker-style training run of `model_project` (default: the project itself)."""
    source = model_project or project
    if not source.stage(stage).seed:
        raise UserError(
            f'{source.config_file}: stage {stage!r} has no "seed" data to train the model to serve; give '
            "--model (a model.tar.gz or folder) or --model-from (the project that trains it)"
        )
    image = image_under_test(source, client)
    trainer = SageMakerHarness(client, image.tag, workdir=harness.workdir, tracker=harness.tracker)
    say(f"training {image.tag} as SageMaker does, for the model to serve")
    run: TrainingRun = trainer.train(training_job(source, stage))
    if run.exit_code != 0:
        tail = "\n".join(run.logs.splitlines()[-15:])
        raise UserError(f"training {source.name} for the model to serve failed (exit {run.exit_code}):\n{tail}")
    return run.model_tar
