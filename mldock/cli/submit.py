"""`mldock submit` / `mldock status`: one stage of mldock.json as a job on SageMaker, Vertex AI, Azure ML or
Kubernetes, validated offline by the engine's own models before anything is sent.

    $ mldock submit --platform sagemaker --stage prod --dry-run           # the CreateTrainingJob request (JSON)
    $ mldock submit --platform kubernetes --stage prod --dry-run          # the Job manifest (YAML)
    $ mldock submit --platform kubernetes --stage dev --dry-run --pod     # its pod, for `podman kube play`
    $ mldock submit --platform vertex --stage prod --image REPO@sha256:... --set project=my-project
    $ mldock status wine-prod-20261202-101500
    $ mldock status wine-prod-20261202-101500 --wait     # until it ends: exit 0 on success, 1 otherwise
    $ mldock logs wine-prod-20261202-101500             # SageMaker (CloudWatch Logs) and Kubernetes

Per-platform settings come from `stages.<stage>.platforms.<platform>` in mldock.json; `--set KEY=VALUE`,
`--instance-count` and `--instance-type` override them. Credentials come from each SDK's own chain.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from mldock.cli.common import (
    emit_json,
    err,
    json_option,
    load,
    out,
    parse_hyperparameters,
    project_option,
    stage_option,
)
from mldock.errors import UserError
from mldock.submit.engines import Engine, load_engine
from mldock.submit.image import job_image
from mldock.submit.job import PLATFORMS, job_spec
from mldock.submit.records import JOBS_DIR, load_record, save_record

__all__ = ["logs_command", "status_command", "submit_command"]

EXIT_JOB_FAILED = 1
"""`mldock status --wait`: the job ended, and not in success."""

_INSTANCE_TYPE_SETTING = {"sagemaker": "instance_type", "vertex": "machine_type", "azureml": "instance_type"}

platform_option = click.option(
    "--platform",
    type=click.Choice(PLATFORMS),
    help="The engine: sagemaker (CreateTrainingJob), vertex (CustomJob), azureml (command job), kubernetes (Job).",
)
set_option = click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A platform setting (role_arn, region, project, workspace, namespace, ...), over the stage's (repeatable).",
)


@click.command("submit")
@project_option
@stage_option
@click.option(
    "--platform",
    type=click.Choice(PLATFORMS),
    required=True,
    help="The engine: sagemaker (CreateTrainingJob), vertex (CustomJob), azureml (command job), kubernetes (Job).",
)
@click.option("--dry-run", is_flag=True, help="Print the validated request and send nothing.")
@click.option(
    "--image",
    envvar="MLDOCK_IMAGE",
    metavar="REF",
    help="The image to run: what `mldock push` printed (REPOSITORY@sha256:...). Default: the content-hash tag.",
)
@click.option(
    "--registry",
    envvar="MLDOCK_REGISTRY",
    metavar="HOST[:PORT][/NAMESPACE]",
    help="Without --image: the digest the registry holds for REGISTRY/<name>:<content hash> (what `mldock push` "
    "pushed), else that tag with a note.",
)
@click.option(
    "--insecure", is_flag=True, help="With --registry: ask the registry for the pushed digest over plain HTTP."
)
@click.option("--job-name", metavar="NAME", help="The job's name [default: <project>-<stage>-<UTC timestamp>].")
@click.option("--instance-count", type=click.IntRange(min=1), help="Machines (replicas) for the job.")
@click.option("--instance-type", metavar="TYPE", help="The machine type (SageMaker, Vertex AI, Azure ML).")
@set_option
@click.option("-p", "--hyperparameter", "hyperparameters", multiple=True, metavar="KEY=VALUE", help="Override one.")
@click.option("--pod", is_flag=True, help="Kubernetes --dry-run: print the Job's pod as a v1 Pod (podman kube play).")
@json_option
def submit_command(
    project: str,
    stage: str,
    platform: str,
    dry_run: bool,
    image: str | None,
    registry: str | None,
    insecure: bool,
    job_name: str | None,
    instance_count: int | None,
    instance_type: str | None,
    settings: tuple[str, ...],
    hyperparameters: tuple[str, ...],
    pod: bool,
    as_json: bool,
) -> None:
    """Turn a stage into the platform's job request, validate it offline, and submit it (or print it)."""
    if pod and (platform != "kubernetes" or not dry_run):
        raise UserError("--pod prints the Kubernetes pod: use it with --platform kubernetes --dry-run")
    overrides = parse_hyperparameters(settings, "--set")
    if instance_count is not None:
        overrides["instance_count"] = instance_count
    if instance_type is not None:
        if platform not in _INSTANCE_TYPE_SETTING:
            raise UserError("--instance-type: Kubernetes has no machine type; use --set cpu=... --set memory=...")
        overrides[_INSTANCE_TYPE_SETTING[platform]] = instance_type
    config = load(project)
    engine = load_engine(platform)
    reference, note = job_image(config, image=image, registry=registry, insecure=insecure)
    spec = job_spec(
        config,
        config.stage(stage),
        platform,
        image=reference,
        job_name=job_name,
        overrides=overrides,
        hyperparameters=parse_hyperparameters(hyperparameters, "-p"),
    )
    request = engine.build_request(spec)
    engine.validate_request(request)
    console = err()
    if note:
        console.print(f"note: {note}", markup=False)
    if not config.stage(stage).production:
        console.print(
            f"note: stage {stage!r} is not a production stage: its channels name the buckets its local runs "
            "use (emulated ones, unless the job can reach them)",
            markup=False,
        )
    if dry_run:
        if pod:
            # the kubernetes SDK's module, only for --platform kubernetes (load_engine has loaded it already)
            from mldock.submit.kubernetes import pod_manifest, render

            click.echo(render(pod_manifest(request)), nl=False)
        elif as_json:
            emit_json({"platform": platform, "job": spec.job_name, "image": reference.reference, "request": request})
        else:
            click.echo(engine.render(request), nl=False)
        console.print(f"{platform}: the request is valid for the engine's own models (not sent: --dry-run)")
        return
    answer = engine.submit(request, spec.settings)
    record: dict[str, Any] = {
        "platform": platform,
        "name": spec.job_name,
        "project": config.name,
        "stage": spec.stage,
        "image": reference.reference,
        "settings": dict(spec.settings),
        "submitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **answer,
    }
    save_record(config.root / JOBS_DIR, record)
    if as_json:
        emit_json(record)
        return
    out().print(answer["job"], markup=False)
    for key in ("arn", "url"):
        if answer.get(key):
            console.print(f"{key}: {answer[key]}", markup=False)
    console.print(f"follow it: mldock status {answer['job']}", markup=False)


@click.command("status")
@click.argument("job")
@project_option
@platform_option
@set_option
@click.option("--wait", is_flag=True, help="Poll until the job ends; exit 0 when it succeeded, 1 otherwise.")
@click.option(
    "--interval", type=click.FloatRange(min=1), default=30.0, show_default=True, help="Seconds between polls (--wait)."
)
@json_option
def status_command(
    project: str, job: str, platform: str | None, settings: tuple[str, ...], wait: bool, interval: float, as_json: bool
) -> int:
    """Show a submitted job's state (the platform and settings come from `mldock submit`'s record)."""
    engine, job_id, merged = _recorded(project, job, platform, settings)
    found = engine.status(job_id, merged)
    while wait and found["status"] not in engine.final_states:
        if not as_json:
            err().print(f"{found['job']}: {found['status']}", markup=False)
        time.sleep(interval)
        found = engine.status(job_id, merged)
    if as_json:
        emit_json(found)
    else:
        out().print(f"{found['job']}: {found['status']}", markup=False)
        for key, value in found.items():
            if key not in ("job", "status", "platform") and value:
                out().print(f"  {key}: {value}", markup=False)
    if wait and not engine.final_states.get(str(found["status"]), False):
        return EXIT_JOB_FAILED
    return 0


@click.command("logs")
@click.argument("job")
@project_option
@platform_option
@set_option
def logs_command(project: str, job: str, platform: str | None, settings: tuple[str, ...]) -> None:
    """Print a submitted job's log so far (SageMaker: CloudWatch Logs; Kubernetes: the pods' logs)."""
    engine, job_id, merged = _recorded(project, job, platform, settings)
    if engine.logs is None:
        raise UserError(
            f"mldock logs: {engine.name} keeps its logs where mldock does not read them; see `mldock status`"
        )
    count = 0
    for line in engine.logs(job_id, merged):
        click.echo(line)
        count += 1
    if not count:
        err().print(f"no log lines yet for {job_id}", markup=False)


def _recorded(
    project: str, job: str, platform: str | None, settings: tuple[str, ...]
) -> tuple[Engine, str, dict[str, Any]]:
    """The engine, the job id and the settings for `job`: `mldock submit`'s record, then the options."""
    record = load_record(_project_root(project) / JOBS_DIR, job) or {}
    chosen = platform or record.get("platform")
    if not chosen:
        raise UserError(f"no record of job {job!r} in {JOBS_DIR}: say which engine runs it with --platform")
    merged = {**record.get("settings", {}), **parse_hyperparameters(settings, "--set")}
    return load_engine(chosen), str(record.get("job", job)), merged


def _project_root(project: str) -> Path:
    path = Path(project)
    return path.parent if path.is_file() else path
