"""Azure ML: a stage as a command job, checked by azure-ai-ml's own job schema and entities.

    body = build_request(spec)          # the command job in the YAML form `az ml job create --file` takes
    validate_request(body)              # UserError naming the field Azure ML's schema refuses
    submit(body, spec.settings)         # MLClient.jobs.create_or_update; returns the job's name and studio URL

How a stage maps:
- `environment.image` is the image; `command` is `mldock-entrypoint train` (Azure ML runs the command in the
  image, replacing its entrypoint);
- az:// channels on a container that `datastores` maps to a workspace datastore become the job's `inputs`
  (download mode) and `outputs` (upload mode) of type uri_folder, at `azureml://datastores/<d>/paths/<prefix>`:
  Azure ML moves that data, and the command hands each folder to mldock as a file:// channel
  (`MLDOCK_INPUT_CHANNEL_TRAIN=file://${{inputs.train}} ... mldock-entrypoint train`), which the runtime reads
  and writes like any other channel;
- every other stage variable (the other channel variables included: the container moves that data itself, as
  in `mldock run`) and `MLDOCK_HYPERPARAMETERS` in `environment_variables`;
- `compute` (`azureml:<name>`), `resources.instance_count` / `resources.instance_type`, `experiment_name`
  (default: the project name); the job's storage access comes from the compute's managed identity, never
  from a key in the job.

Validation is `azure.ai.ml.load_job` on the body (the marshmallow CommandJobSchema the CLI and the SDK use:
unknown fields, types, required fields), then the entity's conversion to its REST object.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import yaml
from azure.ai.ml import MLClient, load_job
from azure.core.exceptions import AzureError
from marshmallow.exceptions import ValidationError

from mldock.errors import ToolingError, UserError
from mldock.runtime.channels import Channel
from mldock.runtime.redact import redact_credentials
from mldock.submit.job import JobSpec

__all__ = ["FINAL_STATES", "SCHEMA", "build_request", "status", "submit", "validate_request"]

SCHEMA = "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"
COMMAND = "mldock-entrypoint train"
_WORKSPACE_SETTINGS = ("subscription_id", "resource_group", "workspace")
FINAL_STATES: Mapping[str, bool] = {"Completed": True, "Failed": False, "Canceled": False, "NotResponding": False}
"""A job's final statuses, and whether each is a success (`mldock status --wait`)."""


def build_request(spec: JobSpec) -> dict[str, Any]:
    """The command job for `spec` (not yet validated: see validate_request)."""
    settings = spec.settings
    resources: dict[str, Any] = {"instance_count": spec.instance_count}
    if settings.get("instance_type"):
        resources["instance_type"] = settings["instance_type"]
    native = _native_channels(spec, settings.get("datastores", {}))
    inputs = {c.name: _data(c, datastore, "download") for c, datastore in native if c.kind.is_input}
    outputs = {c.name: _data(c, datastore, "upload") for c, datastore in native if not c.kind.is_input}
    bindings = [f"{c.variable}=file://{_reference(c)}" for c, _ in native]
    mapped = {c.variable for c, _ in native}
    environment = {k: v for k, v in spec.environment.items() if k not in mapped}
    body: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "command",
        "name": spec.job_name,
        "display_name": spec.job_name,
        "experiment_name": settings.get("experiment_name", spec.project),
        "command": " ".join([*bindings, COMMAND]),
        "environment": {"image": spec.image.reference},
        "environment_variables": {**environment, **spec.hyperparameters_variable()},
        "resources": resources,
        "tags": {"mldock:project": spec.project, "mldock:stage": spec.stage},
    }
    if inputs:
        body["inputs"] = inputs
    if outputs:
        body["outputs"] = outputs
    if settings.get("compute"):
        body["compute"] = f"azureml:{settings['compute']}"
    return body


def validate_request(body: Mapping[str, Any]) -> None:
    """UserError naming the fields azure-ai-ml's CommandJobSchema refuses."""
    try:
        with _quiet_sdk():
            job = load_job(io.StringIO(yaml.safe_dump(dict(body), sort_keys=False)), relative_origin=".")
            job._to_rest_object()  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise UserError(f"the Azure ML command job would be rejected: {_schema_problems(exc)}") from None
    except (ValueError, TypeError) as exc:
        raise UserError(f"the Azure ML command job would be rejected: {exc}") from None


def submit(body: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, str]:
    """Create the job in the workspace (DefaultAzureCredential's chain); its name and studio URL."""
    with _quiet_sdk():
        job = load_job(io.StringIO(yaml.safe_dump(dict(body), sort_keys=False)), relative_origin=".")
    client = _client(settings)
    try:
        created = client.jobs.create_or_update(job)
    except AzureError as exc:
        detail = redact_credentials(str(exc))  # an SDK message may echo a signed URL or token
        raise ToolingError(f"Azure ML refused job {body.get('name')!r}: {detail}") from exc
    return {"job": str(created.name), "url": str(created.studio_url or "")}


def status(job: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The job's status in the workspace."""
    client = _client(settings)
    try:
        found = client.jobs.get(job)
    except AzureError as exc:
        detail = redact_credentials(str(exc))  # an SDK message may echo a signed URL or token
        raise ToolingError(f"Azure ML job {job!r}: {detail}") from exc
    return {"job": job, "platform": "azureml", "status": str(found.status), "url": str(found.studio_url or "")}


# -- internals ------------------------------------------------------------------------------------------------

_BINDING_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _native_channels(spec: JobSpec, datastores: Mapping[str, str]) -> list[tuple[Channel, str]]:
    """The az:// channels on a container with a datastore, whose name can be an input/output name (one per name)."""
    chosen: dict[str, tuple[Channel, str]] = {}
    for channel in spec.channels:
        datastore = datastores.get(channel.uri.bucket) if channel.uri.scheme == "az" else None
        usable = datastore and channel.uri.prefix.strip("/") and _BINDING_NAME.match(channel.name)
        if usable and datastore and channel.name not in chosen:
            chosen[channel.name] = (channel, datastore)
    return list(chosen.values())


def _reference(channel: Channel) -> str:
    """`${{inputs.<name>}}` / `${{outputs.<name>}}`: the folder Azure ML gives the job for that channel."""
    side = "inputs" if channel.kind.is_input else "outputs"
    return "${{" + f"{side}.{channel.name}" + "}}"


def _data(channel: Channel, datastore: str, mode: str) -> dict[str, str]:
    path = f"azureml://datastores/{datastore}/paths/{channel.uri.prefix.strip('/')}"
    return {"type": "uri_folder", "path": path, "mode": mode}



def _client(settings: Mapping[str, Any]) -> MLClient:
    missing = [name for name in _WORKSPACE_SETTINGS if not settings.get(name)]
    if missing:
        raise UserError(
            f"Azure ML needs the workspace: set platforms.azureml.{missing[0]} (or --set {missing[0]}=...); "
            f"required: {', '.join(_WORKSPACE_SETTINGS)}"
        )
    from azure.identity import DefaultAzureCredential  # the credential chain, only when talking to Azure

    return MLClient(
        DefaultAzureCredential(),
        subscription_id=settings["subscription_id"],
        resource_group_name=settings["resource_group"],
        workspace_name=settings["workspace"],
    )


def _schema_problems(exc: ValidationError) -> str:
    """The field-by-field part of azure-ai-ml's message (it wraps the schema's errors in JSON and links)."""
    text = str(exc)
    inner = re.search(r'"message": "(.*?)",\s*"path"', text, re.DOTALL)
    if inner:
        text = json.loads(f'"{inner.group(1)}"')
    head, _, _ = text.partition("If you are trying")
    return " ".join(head.split())


@contextmanager
def _quiet_sdk() -> Iterator[None]:
    """azure-ai-ml logs a warning per experimental schema class it loads: keep them off the user's terminal."""
    logger = logging.getLogger("azure.ai.ml")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
