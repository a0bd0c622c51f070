"""Azure ML command jobs and custom-container online deployments started on the local engine the way Azure ML
starts them.

    harness = AzureMLHarness(client, "localhost/mldock/iris:1f2e3d4c5b6a", workdir=tmp, tracker=tracker)
    job = TrainingJob({"train": Path("data/train")}, {"epochs": 3}, "iris")
    run = harness.train(job, outputs={"model": ChannelKind.OUTPUT_MODEL, "metrics": ChannelKind.OUTPUT})
    run.exit_code, run.outputs["model"]
    served = harness.serve(run.output_dirs["model"], payload=b'{"instances": [[1, 2]]}',
                           content_type="application/json")

Command job (`type: command`, an environment with the image, `inputs`/`outputs` of type uri_folder):
- the job's `command` is what runs, through a shell, in place of the image's entrypoint and CMD; its
  `${{inputs.<name>}}` and `${{outputs.<name>}}` are replaced by the folders Azure ML mounts: inputs
  read-only (`ro_mount`) and outputs read-write (`rw_mount`) below `/mnt/azureml/cr/j/<job>/cap/data-capability/wd/`;
  literal inputs (the hyperparameters) by their values;
- the working folder is the job's own (`/mnt/azureml/cr/j/<job>/exe/wd`), not the image's WORKDIR;
- `AZUREML_RUN_ID`; no `MLDOCK_*` variable;
- after the exit Azure ML uploads each output folder: the harness reads them (`run.outputs`).
The command is the one mldock documents for its image (`command_line()`, mldock.runtime.arguments):
`mldock-entrypoint train --n_estimators=20 --input-channel train=${{inputs.train}}
--output-model-channel model=${{outputs.model}} --output-channel metrics=${{outputs.metrics}}`: each
hyperparameter as `--name=value`, each channel as its kind's argument with `NAME=<mounted folder>`.

Online deployment with a custom container (a managed online deployment whose environment has an
`inference_config`, and the SDK's local endpoints, which run the same container with docker):
- no command: the image as built (Azure ML has no command override for a deployment);
- the registered model mounted read-only at `/var/azureml-app/azureml-models/<name>/<version>`, which
  `AZUREML_MODEL_DIR` names; a model registered from a folder keeps that folder's name below it;
- the deployment's inference_config is the one mldock documents for its image (mldock.runtime.azureml): port
  5001 and the routes of Azure's own inference server (azureml-inference-server-http: liveness `GET /`,
  scoring `POST /score`), readiness `GET /ping`;
- the readiness route polled until 200, then liveness checked and the sample payload POSTed to the scoring
  route; a stop is SIGTERM, then SIGKILL after the pod's grace period (30 s).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mldock.engine import ResourceTracker
from mldock.harness.launch import Launcher, copy_tree, describe, logs_of
from mldock.harness.probe import probe_arguments
from mldock.harness.sagemaker import ServingRun, TrainingJob, unpack
from mldock.runtime.channels import ChannelKind

if TYPE_CHECKING:
    import docker

__all__ = [
    "ENDPOINT_STOP_DEADLINE",
    "INFERENCE_PORT",
    "LIVENESS_ROUTE",
    "MODEL_ROOT",
    "READINESS_ROUTE",
    "SCORING_ROUTE",
    "AzureMLHarness",
    "AzureMLTrainingRun",
    "command_line",
]

INFERENCE_PORT = 5001
LIVENESS_ROUTE = "/"
READINESS_ROUTE = "/ping"
SCORING_ROUTE = "/score"
MODEL_ROOT = "/var/azureml-app/azureml-models"
ENDPOINT_STOP_DEADLINE = 30.0
"""Seconds from SIGTERM to SIGKILL for a deployment's container (Kubernetes' default grace period)."""
JOB_ID = "mldock-contract-job"
_CAPABILITY = f"/mnt/azureml/cr/j/{JOB_ID}/cap/data-capability/wd"
_WORKING_DIR = f"/mnt/azureml/cr/j/{JOB_ID}/exe/wd"


@dataclass(frozen=True)
class AzureMLTrainingRun:
    """A finished command job: exit code, logs, and each output folder with the files Azure ML would upload."""

    exit_code: int | None
    logs: str
    started_as: str
    command: str
    output_dirs: Mapping[str, Path]

    @property
    def outputs(self) -> dict[str, tuple[str, ...]]:
        """Each output's files (relative names, sorted)."""
        return {name: _files(folder) for name, folder in self.output_dirs.items()}


class AzureMLHarness(Launcher):
    """Runs one image as Azure ML's command jobs and online deployments run it (see the module docstring)."""

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        *,
        workdir: Path,
        tracker: ResourceTracker,
        timeout: float = 900.0,
        endpoint_deadline: float = ENDPOINT_STOP_DEADLINE,
    ) -> None:
        super().__init__(client, image, workdir=workdir, tracker=tracker, timeout=timeout)
        self.endpoint_deadline = endpoint_deadline

    # -- command job ----------------------------------------------------------------------------------------

    def train(self, job: TrainingJob, *, outputs: Mapping[str, ChannelKind]) -> AzureMLTrainingRun:
        """Run the command job: inputs mounted read-only, `outputs` (name: OUTPUT or OUTPUT_MODEL) read-write,
        the command through a shell."""
        root = self.fresh(f"azureml-job-{job.job_name}")
        volumes: dict[str, Any] = {}
        inputs: dict[str, str] = {}
        for name, source in job.channels.items():
            folder = root / "inputs" / name
            copy_tree(source, folder)
            inputs[name] = f"{_CAPABILITY}/INPUT_{name}"
            volumes[str(folder)] = {"bind": inputs[name], "mode": "ro"}
        output_dirs: dict[str, Path] = {}
        output_paths: dict[str, str] = {}
        for name in sorted(outputs):
            output_dirs[name] = root / "outputs" / name
            output_dirs[name].mkdir(parents=True)
            output_paths[name] = f"{_CAPABILITY}/{name}"
            volumes[str(output_dirs[name])] = {"bind": output_paths[name], "mode": "rw"}
        working = root / "wd"
        working.mkdir()
        volumes[str(working)] = {"bind": _WORKING_DIR, "mode": "rw"}
        command = command_line(job.hyperparameters, inputs, {n: (outputs[n], p) for n, p in output_paths.items()})
        environment = {"AZUREML_RUN_ID": job.job_name}
        entrypoint = ["/bin/sh", "-c"]
        started_as = describe([command], environment, volumes, entrypoint=entrypoint, working_dir=_WORKING_DIR)
        container = self.start(
            "Azure ML command job",
            command=[command],
            environment=environment,
            volumes=volumes,
            entrypoint=entrypoint,
            working_dir=_WORKING_DIR,
        )
        code = self.wait(container, self.timeout)
        logs = logs_of(container)
        self.tracker.remove(container)
        return AzureMLTrainingRun(code, logs, started_as, command, output_dirs)

    # -- online deployment ----------------------------------------------------------------------------------

    def serve(
        self,
        model: Path,
        *,
        payload: bytes,
        content_type: str = "application/json",
        model_name: str = "mldock-model",
        model_version: str = "1",
        folder_name: str = "model",
        startup_timeout: float = 300.0,
    ) -> ServingRun:
        """Deploy the image with `model` (model.tar.gz or a folder) registered as `model_name`:`model_version`.

        The model's files sit in `<AZUREML_MODEL_DIR>/<folder_name>/`, as for a model registered from a folder.
        """
        root = self.fresh("azureml-deployment")
        mounted = root / "model-mount"
        files = unpack(model, mounted / folder_name)
        model_dir = f"{MODEL_ROOT}/{model_name}/{model_version}"
        environment = {"AZUREML_MODEL_DIR": model_dir}
        volumes = {str(mounted): {"bind": model_dir, "mode": "ro"}}
        started_as = describe(None, environment, volumes)
        container = self.start("Azure ML deployment", command=None, environment=environment, volumes=volumes)
        arguments = probe_arguments(
            payload,
            content_type,
            accept="application/json",
            port=INFERENCE_PORT,
            timeout=startup_timeout,
            ping_route=READINESS_ROUTE,
            predict_route=SCORING_ROUTE,
            gets=(LIVENESS_ROUTE,),
            execution_route=None,
            attributes_header=None,
            body_limit=100_000,
        )
        status = self.probe(container, arguments)
        code, stopped_after = self.stop(container, self.endpoint_deadline)
        logs = logs_of(container)
        network_mode = str(container.attrs.get("HostConfig", {}).get("NetworkMode", ""))
        self.tracker.remove(container)
        shown = tuple(f"{folder_name}/{name}" for name in files)
        return ServingRun(status, code, stopped_after, logs, shown, network_mode, started_as)


def command_line(
    hyperparameters: Mapping[str, Any], inputs: Mapping[str, str], outputs: Mapping[str, tuple[ChannelKind, str]]
) -> str:
    """The job's command with its `${{...}}` references resolved to `inputs` and `outputs` (name: kind, folder):
    `mldock-entrypoint train`, hyperparameters as `--name=value`, channels as `--input-channel NAME=FOLDER`,
    `--output-channel NAME=FOLDER` or `--output-model-channel NAME=FOLDER`."""
    words = ["mldock-entrypoint", "train"]
    words += [
        f"--{name}={value if isinstance(value, str) else json.dumps(value)}" for name, value in hyperparameters.items()
    ]
    for name, path in inputs.items():
        words += ["--input-channel", f"{name}={path}"]
    for name, (kind, path) in outputs.items():
        flag = "--output-model-channel" if kind is ChannelKind.OUTPUT_MODEL else "--output-channel"
        words += [flag, f"{name}={path}"]
    return " ".join(shlex.quote(word) for word in words)


def _files(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()))
