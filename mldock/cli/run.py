"""`mldock run train`: one training lifecycle for a stage, against emulated storage outside production.

    $ mldock run train --stage dev -p n_estimators=50 -e LOG_LEVEL=debug
    $ mldock run train --stage dev --runner process --json

Steps: load mldock.json; in a non-production stage start the emulators the stage's channel URIs need
(s3 → moto, gs → fake-gcs-server, az → Azurite), create their buckets and upload the stage's `seed` folders;
build the image (docker runner); run the task; fetch the output channels into `--output`; stop everything.
When the step reported metrics (env.log_metric), the run folder also gets metrics.jsonl and metrics.html, a chart
of each metric over its steps (`mldock metrics` shows them). The exit code is the task's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mldock.cli.common import (
    emit_json,
    err,
    json_errors,
    json_option,
    load,
    out,
    parse_environment,
    parse_hyperparameters,
    parse_pass_env,
    parse_seeds,
    project_option,
    runner_option,
    stage_option,
)
from mldock.cli.metrics import save_run_metrics
from mldock.cli.progress import TransferProgress, build_progress
from mldock.cli.stage import download_outputs, stage_storage, upload_seeds
from mldock.contract import HYPERPARAMETERS
from mldock.errors import UserError
from mldock.image import build_image
from mldock.project.config import ProjectConfig
from mldock.project.stage_storage import plan_seeds, stage_channels
from mldock.runners import get_runner
from mldock.runners.base import Runner, RunSpec
from mldock.runners.environment import merged_hyperparameters
from mldock.runners.resources import parse_resources
from mldock.runtime.metrics import METRICS_FILE, read_metric_records
from mldock.runtime.redact import Redactor, redact_mapping

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["bars_wanted", "build_for_runner", "make_runner", "resource_options", "run_group", "task_options"]

EXIT_TIMED_OUT = 124


def task_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `run train` and `serve` share."""
    decorators = [
        project_option,
        stage_option,
        runner_option,
        click.option(
            "-p",
            "--hyperparameter",
            "hyperparameters",
            multiple=True,
            metavar="KEY=VALUE",
            help="A hyperparameter over the stage's; VALUE is JSON when it parses (3, 0.1, true, [1,2]), else text.",
        ),
        click.option(
            "-e",
            "--env",
            "environment",
            multiple=True,
            metavar="KEY=VALUE",
            help="An extra container variable; KEY gets the MLDOCK_ prefix when it lacks it, except a cloud SDK's "
            "own variable (AWS_*, AZURE_*, GOOGLE_*, STORAGE_EMULATOR_HOST, proxies, CA bundles), passed as given.",
        ),
        click.option(
            "--pass-env",
            "pass_env",
            multiple=True,
            metavar="NAME",
            help="Pass the host's variable NAME (or every NAME* with a trailing '*') to the task, besides the "
            "cloud SDKs' own, which always pass when set (adds to mldock.json's pass_env).",
        ),
        click.option(
            "--seed",
            "seeds",
            multiple=True,
            metavar="CHANNEL=DIR",
            help="Upload DIR to input channel CHANNEL before the task (adds to / replaces the stage's seed).",
        ),
        click.option(
            "--emulator-host",
            default="127.0.0.1",
            show_default=True,
            help="Address the emulators bind to (0.0.0.0 when containers reach them through a bridge).",
        ),
        click.option("--quiet", "-q", is_flag=True, help="Do not stream the task's output."),
        click.option("--gpus", default=None, metavar="all|N|device=I,J", help="GPUs for the container (docker)."),
        click.option("--shm-size", default=None, metavar="SIZE", help="Shared memory, e.g. 2g (docker runner)."),
        click.option("--cpus", default=None, metavar="N", help="CPU limit, e.g. 1.5 (docker runner)."),
        click.option("--memory", default=None, metavar="SIZE", help="Memory limit, e.g. 8g (docker runner)."),
        click.option("--platform", default=None, metavar="OS/ARCH", help="Image platform, e.g. linux/amd64."),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


@click.group("run")
def run_group() -> None:
    """Run a task of the project for a stage (train; serve is `mldock serve`)."""


@run_group.command("train")
@task_options
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to fetch the output channels [default: ./.mldock/runs/<stage>-<timestamp>/].",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop the task after SECONDS."
)
@json_option
def train_command(
    project: str,
    stage: str,
    runner: str,
    hyperparameters: tuple[str, ...],
    environment: tuple[str, ...],
    pass_env: tuple[str, ...],
    seeds: tuple[str, ...],
    emulator_host: str,
    quiet: bool,
    gpus: str | None,
    shm_size: str | None,
    cpus: str | None,
    memory: str | None,
    platform: str | None,
    output: str | None,
    timeout: float | None,
    as_json: bool,
) -> int:
    """Run the training lifecycle: startup (download inputs) → the training step → cleanup (upload outputs).

    In a non-production stage the storage the stage names is emulated locally and seeded from the stage's
    `seed` folders; a production stage talks to the real storage it names (no emulator, no seeding).
    """
    with json_errors(as_json):
        resources = resource_options(gpus=gpus, shm_size=shm_size, cpus=cpus, memory=memory, platform=platform)
        return _train(
            project, stage, runner, hyperparameters, environment, pass_env, seeds, emulator_host, quiet, output,
            timeout, as_json, resources,
        )  # fmt: skip


def _train(
    project: str,
    stage: str,
    runner: str,
    hyperparameters: tuple[str, ...],
    environment: tuple[str, ...],
    pass_env: tuple[str, ...],
    seeds: tuple[str, ...],
    emulator_host: str,
    quiet: bool,
    output: str | None,
    timeout: float | None,
    as_json: bool,
    resources: dict[str, str],
) -> int:
    config = load(project)
    stage_config = config.stage(stage)
    params = parse_hyperparameters(hyperparameters)
    extra_env = parse_environment(environment)
    passed_env = parse_pass_env(pass_env)
    extra_seeds = parse_seeds(seeds)
    channels = stage_channels(stage_config, extra_env)
    if stage_config.production and extra_seeds:
        raise UserError(f"stage {stage!r} is a production stage: --seed only applies to emulated storage")
    planned = [] if stage_config.production else plan_seeds(config, stage_config, channels, extra_seeds)
    dest = Path(output) if output else Path(".mldock", "runs", f"{stage}-{datetime.now():%Y%m%d-%H%M%S}")
    console = err()
    show = not as_json
    build_for_runner(config, runner, console, enabled=show)
    task_runner = make_runner(runner, console, quiet=quiet or as_json)
    started = time.monotonic()
    with (
        TransferProgress(console, enabled=bars_wanted(console, quiet=quiet or as_json)) as bars,
        stage_storage(stage_config, channels, host=emulator_host, extra_environment=extra_env) as (storage, emulators),
    ):
        if stage_config.production:
            console.print(f"stage {stage!r} is production: using the real storage it names, no emulators")
        elif emulators and show:
            console.print("emulators: " + ", ".join(f"{e.name} {e.endpoint_url}" for e in emulators))
        seeded = upload_seeds(storage, planned, bars)
        spec = RunSpec(
            config,
            stage_config,
            "train",
            environment=extra_env,
            hyperparameters=params,
            emulators=emulators,
            timeout=timeout,
            pass_env=passed_env,
            resources=resources,
        )
        result = task_runner.run(spec)
        # production outputs stay where the stage put them: nothing is copied back from real storage
        fetched = {} if stage_config.production else download_outputs(storage, channels, dest, bars)
    exit_code = result.exit_code if not (result.timed_out and result.exit_code == 0) else EXIT_TIMED_OUT
    received = merged_hyperparameters(spec)
    # every secret the task could see, from the host (forwarded credentials) to its hyperparameters
    mask = Redactor.for_environ({**os.environ, **spec.environment, HYPERPARAMETERS: json.dumps(received, default=str)})
    summary = {
        "project": config.name,
        "stage": stage,
        "runner": runner,
        "task": "train",
        "exit_code": exit_code,
        "succeeded": result.succeeded,
        "timed_out": result.timed_out,
        "duration": round(result.duration, 3),
        "total_duration": round(time.monotonic() - started, 3),
        "failure_reason": result.failure_reason,
        "failure": result.failure,
        "hyperparameters": redact_mapping(received),  # what the task received, secret-named keys masked
        "seeded": seeded,
        "outputs": fetched,
        "output_dir": str(dest.resolve()) if fetched else None,
    }
    records = read_metric_records(result.base_dir / METRICS_FILE) if result.base_dir is not None else []
    chart = save_run_metrics(dest, records)
    if chart is not None:
        summary["metrics"] = {"reports": len(records), "chart": str(chart.resolve())}
        summary["output_dir"] = str(dest.resolve())
    summary = _masked(summary, mask)
    if fetched or chart is not None:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "logs.txt").write_text(mask(result.logs), encoding="utf-8")
        (dest / "result.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary)
    return exit_code


def _masked(summary: dict[str, Any], mask: Redactor) -> dict[str, Any]:
    """`summary` with every secret masked wherever it stands (failure text, URIs, values)."""
    text = json.dumps(summary, default=str)
    try:
        masked = json.loads(mask(text))
    except ValueError:  # a mask fell across JSON syntax: mask value by value instead
        return redact_mapping(
            {key: mask(str(value)) if isinstance(value, str) else value for key, value in summary.items()}
        )
    return masked if isinstance(masked, dict) else summary


def _print_summary(summary: dict[str, Any]) -> None:
    console = out()
    if summary["succeeded"]:
        console.print(f"[green]train succeeded[/] in {summary['duration']:.1f}s (stage {summary['stage']})")
    else:
        state = "timed out" if summary["timed_out"] else f"exit code {summary['exit_code']}"
        console.print(f"[red]train failed[/] ({state}) after {summary['duration']:.1f}s (stage {summary['stage']})")
        if summary["failure_reason"]:
            console.print(f"reason: {summary['failure_reason']}", markup=False)
    for seed in summary["seeded"]:
        line = f"  seeded {seed['channel']}: {seed['files']} file(s) from {seed['folder']} → {seed['uri']}"
        console.print(line, markup=False)
    for key, info in summary["outputs"].items():
        where = info["path"] or "(nothing uploaded)"
        console.print(f"  {key}: {info['files']} file(s) from {info['uri']} → {where}", markup=False)
    if summary.get("metrics"):
        count = summary["metrics"]["reports"]
        console.print(f"  metrics: {count} report(s), chart {summary['metrics']['chart']}", markup=False)
    if summary["output_dir"]:
        console.print(f"outputs, logs.txt and result.json in {summary['output_dir']}", markup=False)


def resource_options(**given: str | None) -> dict[str, str]:
    """--gpus/--shm-size/--cpus/--memory/--platform as a resources mapping, checked (a UserError names the option)."""
    chosen = {key: value for key, value in given.items() if value is not None}
    parse_resources(chosen, "the command line", key_name=lambda key: "--" + key.replace("_", "-"))
    return chosen


def bars_wanted(console: Console, *, quiet: bool) -> bool:
    """Progress bars only on a terminal and without -q: elsewhere a bar's last state would print after the
    task's log (and its results say what moved)."""
    return console.is_terminal and not quiet


def make_runner(name: str, console: Console, *, quiet: bool) -> Runner:
    """The runner `name`, streaming the task's output to `console` unless `quiet`."""
    if quiet:
        return get_runner(name)

    def log(line: str) -> None:
        console.print(line.rstrip("\n"), markup=False, highlight=False)

    return get_runner(name, log=log)


def build_for_runner(config: ProjectConfig, runner: str, console: Console, *, enabled: bool) -> None:
    """Build (or find cached) the project's image before a docker run, with a progress display."""
    if runner != "docker":
        return
    with build_progress(console, f"image {config.name}", enabled=enabled) as on_line:
        built = build_image(config, progress=on_line)
    if enabled:
        state = f"built in {built.duration:.1f}s" if built.rebuilt else "up to date"
        console.print(f"image {built.tag}: {state}", markup=False)
