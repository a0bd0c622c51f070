"""`mldock contract`: the built image started the way a platform starts it, each contract item checked.

    $ mldock contract --platform sagemaker --task train --project examples/sklearn-train
    $ mldock contract --platform sagemaker --task serve --project examples/sklearn-serve \\
          --model-from examples/sklearn-train --json
    $ mldock contract --platform sagemaker --task train --stop     # SIGTERM while the step runs
    $ mldock contract --platform vertex --task train               # a CustomJob tuning trial, GCS emulated
    $ mldock contract --platform vertex --task serve               # AIP_* routes and port, AIP_STORAGE_URI
    $ mldock contract --platform azureml --task train              # a command job, mounted inputs/outputs
    $ mldock contract --platform azureml --task serve              # no command, model under AZUREML_MODEL_DIR

Prints a table of contract items (PASS/FAIL with the evidence) or, with --json, one JSON object. Exit code 0
when every item passed, 1 when one failed, 2 for a user mistake. The image is the project's content-hash
image (built only when the engine lacks it, never rebuilt): the one `pytest --mldock-runner docker` tests.
"""

from __future__ import annotations

from pathlib import Path

import click

from mldock.cli.common import emit_json, err, json_option, load, out, project_option
from mldock.harness import PLATFORMS, TASKS, run_contract

__all__ = ["contract_command"]


@click.command("contract")
@project_option
@click.option("--platform", type=click.Choice(PLATFORMS), required=True, help="The platform whose contract to check.")
@click.option("--task", type=click.Choice(TASKS), required=True, help="train: a training job; serve: an endpoint.")
@click.option(
    "--stage",
    "-s",
    default="test",
    show_default=True,
    metavar="STAGE",
    help="The stage whose seed folders are the training channels' data and whose hyperparameters the job gets.",
)
@click.option(
    "--model",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="serve: the model to host (a model.tar.gz or a folder); default: train the project first.",
)
@click.option(
    "--model-from",
    "model_from",
    metavar="DIR",
    default=None,
    help="serve: the project whose training (run as the platform runs it) makes the model to host.",
)
@click.option(
    "--payload",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="serve: the request body (default: payload.json, else the first file in payloads/).",
)
@click.option(
    "--stop", is_flag=True, help="sagemaker train: stop the job with SIGTERM once its step runs; check the deadline."
)
@click.option("--logs", "show_logs", is_flag=True, help="Print the container's log after the table.")
@json_option
def contract_command(
    project: str,
    platform: str,
    task: str,
    stage: str,
    model: Path | None,
    model_from: str | None,
    payload: Path | None,
    stop: bool,
    show_logs: bool,
    as_json: bool,
) -> int:
    """Run the project's image exactly as PLATFORM starts it for TASK and report each contract item."""
    config = load(project)
    model_project = load(model_from) if model_from else None
    console = err()
    report = run_contract(
        config,
        "train" if task == "train" else "serve",
        platform=platform,
        stage=stage,
        model=model,
        model_project=model_project,
        payload=payload,
        stop=stop,
        progress=lambda line: console.print(line, markup=False),
    )
    if as_json:
        data = report.to_dict()
        if show_logs:
            data["logs"] = report.logs
        emit_json(data)
    else:
        console_out = out()
        console_out.print(report.table(), markup=False)
        if show_logs:
            console_out.print("\n--- container log ---\n" + report.logs, markup=False)
    return 0 if report.passed else 1
