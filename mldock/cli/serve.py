"""`mldock serve` (a serving task for a stage, on a fixed local port) and `mldock predict` (POST a payload).

$ mldock serve --stage dev --seed model=.mldock/runs/dev-20250101-120000/model/model &
$ mldock predict --payload payload.json
$ mldock predict --payload rows.csv --accept text/csv
"""

from __future__ import annotations

import json
import signal
import threading
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

import click

from mldock.cli.common import (
    emit_json,
    err,
    json_option,
    load,
    out,
    parse_environment,
    parse_hyperparameters,
    parse_pass_env,
    parse_seeds,
)
from mldock.cli.progress import TransferProgress
from mldock.cli.run import bars_wanted, build_for_runner, make_runner, resource_options, task_options
from mldock.cli.stage import stage_storage, upload_seeds
from mldock.contract import DEFAULT_PREDICT_ROUTE, DEFAULT_SERVE_PORT
from mldock.errors import ChannelError, RunnerError, UserError
from mldock.project.stage_storage import plan_seeds, stage_channels
from mldock.runners.base import RunSpec
from mldock.runners.serving import check_port_free
from mldock.runtime.channels import Channel, ChannelKind, channel_variable, check_channel_name

__all__ = ["DEFAULT_URL", "model_channel", "parse_model", "predict_command", "serve_command"]

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_SERVE_PORT}{DEFAULT_PREDICT_ROUTE}"
_CONTENT_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".jsonl": "application/jsonlines",
}


@click.command("serve")
@task_options
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_SERVE_PORT,
    show_default=True,
    help="Local port to answer on (the task's own port, published directly; 0: any free one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Local address to answer on.")
@click.option(
    "--model",
    default=None,
    metavar="[CHANNEL=]DIR",
    help="A model folder to serve (e.g. .mldock/runs/<run>/model/<channel>): seeds input model channel CHANNEL; "
    "without CHANNEL, the stage's one input model channel that serving uses, or one at the URI of its output "
    "model channel.",
)
@click.option("--ready-timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for /ping 200.")
def serve_command(
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
    port: int,
    host: str,
    model: str | None,
    ready_timeout: float,
) -> int:
    """Serve the project for a stage: GET /ping and POST /invocations on --host:--port until Ctrl-C.

    In a non-production stage the storage is emulated and seeded as for `mldock run train`; pass
    `--seed model=DIR` to serve a model trained earlier (e.g. `.mldock/runs/<run>/model/<channel>`).
    """
    config = load(project)
    stage_config = config.stage(stage)
    params = parse_hyperparameters(hyperparameters)
    extra_env = parse_environment(environment)
    passed_env = parse_pass_env(pass_env)
    resources = resource_options(gpus=gpus, shm_size=shm_size, cpus=cpus, memory=memory, platform=platform)
    extra_seeds = parse_seeds(seeds)
    if model is not None:
        wanted, folder = parse_model(model)
        name, variable = model_channel(stage_channels(stage_config, extra_env), wanted, stage_config.serve_channels)
        extra_env.update(variable)
        extra_seeds[name] = folder
    channels = stage_channels(stage_config, extra_env)
    if stage_config.production and extra_seeds:
        raise UserError(f"stage {stage!r} is a production stage: --seed only applies to emulated storage")
    planned = [] if stage_config.production else plan_seeds(config, stage_config, channels, extra_seeds)
    console = err()
    stopped = threading.Event()
    with ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _raise_interrupt))
        check_port_free(host, port)  # a taken port fails before anything starts
        build_for_runner(config, runner, console, enabled=True)
        storage, emulators = stack.enter_context(
            stage_storage(stage_config, channels, host=emulator_host, extra_environment=extra_env)
        )
        with TransferProgress(console, enabled=bars_wanted(console, quiet=quiet)) as bars:
            upload_seeds(storage, planned, bars)
        task_runner = make_runner(runner, console, quiet=quiet)
        spec = RunSpec(
            config,
            stage_config,
            "serve",
            environment=extra_env,
            hyperparameters=params,
            emulators=emulators,
            pass_env=passed_env,
            resources=resources,
        )
        try:
            endpoint = stack.enter_context(
                task_runner.serve(spec, ready_timeout=ready_timeout, port=port or None, host=host)
            )
            out().print(
                f"serving {config.name} (stage {stage}, {runner} runner) at {endpoint.url}/invocations — Ctrl-C stops",
                markup=False,
            )
            stopped.wait()
        except KeyboardInterrupt:
            console.print("stopping", markup=False)
    return 0


def parse_model(value: str) -> tuple[str | None, Path]:
    """`--model [CHANNEL=]DIR`: the channel named (None when not) and the folder; BadParameter naming the problem."""
    channel: str | None = None
    folder = value
    if not Path(value).expanduser().is_dir() and "=" in value:
        channel, folder = (part.strip() for part in value.split("=", 1))
        try:
            check_channel_name(ChannelKind.INPUT_MODEL, channel)
        except ChannelError:
            raise click.BadParameter(
                f"{channel!r} is not a channel name (lower-case letters, digits, '_', '.', '-')", param_hint="'--model'"
            ) from None
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise click.BadParameter(f"{folder!r} is not a folder", param_hint="'--model'")
    return channel, path.resolve()


def model_channel(
    channels: tuple[Channel, ...], wanted: str | None = None, serve_channels: tuple[str, ...] | None = None
) -> tuple[str, dict[str, str]]:
    """The input model channel `--model` seeds, and the variable to add when the stage only has an output one.

    `wanted` is the channel `--model CHANNEL=DIR` names; without it, the one input model channel serving uses
    (among `serve_channels` when the stage lists them), else the one output model channel.
    """
    inputs = [c for c in channels if c.kind is ChannelKind.INPUT_MODEL]
    outputs = [c for c in channels if c.kind is ChannelKind.OUTPUT_MODEL]
    if wanted is not None:
        if any(c.name == wanted for c in inputs):
            return wanted, {}
        output = next((c for c in outputs if c.name == wanted), None)
        if output is not None:
            return wanted, {channel_variable(ChannelKind.INPUT_MODEL, wanted): str(output.uri)}
        known = ", ".join(sorted({c.name for c in (*inputs, *outputs)})) or "none"
        raise UserError(f"--model {wanted}=...: the stage has no model channel {wanted!r} (model channels: {known})")
    if serve_channels is not None:
        inputs = [c for c in inputs if c.name in serve_channels]
    if len(inputs) == 1:
        return inputs[0].name, {}
    if not inputs and len(outputs) == 1:
        return outputs[0].name, {channel_variable(ChannelKind.INPUT_MODEL, outputs[0].name): str(outputs[0].uri)}
    raise UserError(
        "--model DIR needs a stage with exactly one input model channel that serving uses (or one output model "
        "channel); name it: --model CHANNEL=DIR"
    )


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("predict")
@click.option(
    "--payload",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The request body: a file (use - for stdin is not supported; write the body to a file).",
)
@click.option("--content-type", default=None, help="Content-Type of the payload [default: from its suffix].")
@click.option("--accept", default="application/json", show_default=True, help="The response type asked for.")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="The /invocations URL of a running endpoint.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for the answer.")
@json_option
def predict_command(
    payload: Path, content_type: str | None, accept: str, url: str, timeout: float, as_json: bool
) -> int:
    """POST a payload to a running endpoint (`mldock serve`, or any container) and print the answer.

    Exit code 0 for a 2xx answer, 1 otherwise (the answer is still printed).
    """
    body = payload.read_bytes()
    kind = content_type or _CONTENT_TYPES.get(payload.suffix.lower(), "application/octet-stream")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": kind, "Accept": accept}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_type, answer = response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        status, answer_type, answer = exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except ValueError as exc:
        raise UserError(f"--url {url!r} is not a usable URL ({exc})") from exc
    except OSError as exc:
        raise RunnerError(f"no endpoint answered at {url} ({exc}); start one with `mldock serve`") from exc
    text = answer.decode("utf-8", errors="replace")
    ok = 200 <= status < 300
    if as_json:
        parsed: Any = text
        if "json" in answer_type:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
        emit_json({"status": status, "content_type": answer_type, "body": parsed, "ok": ok})
    else:
        click.echo(text.rstrip("\n"))
        if not ok:
            click.echo(f"mldock: the endpoint answered {status}", err=True)
    return 0 if ok else 1
