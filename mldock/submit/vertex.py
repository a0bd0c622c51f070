"""Vertex AI: a stage as a `CustomJob`, checked against the `google.cloud.aiplatform_v1` message types.

    body = build_request(spec)            # the CustomJob in its REST JSON form (what `gcloud ai custom-jobs` takes)
    validate_request(body)                # UserError naming the field Vertex AI would reject
    submit(body, spec.settings)           # JobServiceClient.create_custom_job; returns the job's resource name

How a stage maps:
- one worker pool of `machine_type` running the image with args `["train"]` (the image's entrypoint is
  mldock-entrypoint); `instance_count` N > 1 adds a second pool of N-1 replicas, as Vertex AI wants for
  multi-node jobs (pool 0 is the chief);
- every stage variable (channel variables included: the container moves its data itself, as in `mldock run`)
  and `MLDOCK_HYPERPARAMETERS` (the hyperparameters as one JSON object) in `containerSpec.env`;
- `baseOutputDirectory` from base_output_directory, else the stage's gs:// output-model channel, else none;
  `serviceAccount` from service_account (the job's credentials: never a key in the request).

Validation parses the body with protobuf's JSON parser into `CustomJob` (unknown fields and wrong types are
errors naming the field), then checks the fields the API documents as "Required." in each message type's own
docstring (the generated types carry the API reference, not the field_behavior options). The SDK used is the
generated `google.cloud.aiplatform_v1` layer of google-cloud-aiplatform, not the high-level `aiplatform`
package (half the import time, and the request is exactly the API's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from mldock.errors import ToolingError, UserError
from mldock.runtime.channels import ChannelKind
from mldock.runtime.redact import redact_credentials
from mldock.submit.job import JobSpec

__all__ = ["DEFAULTS", "FINAL_STATES", "build_request", "status", "submit", "validate_request"]

DEFAULTS: Mapping[str, Any] = {"region": "us-central1", "machine_type": "n1-standard-4"}
_LABEL = re.compile(r"[^a-z0-9_-]+")
_REQUIRED = re.compile(r"^\s+(\w+) \([^)]*\):\n\s+Required\.", re.MULTILINE)
_ENTRYPOINT_ARGS = ["train"]
FINAL_STATES: Mapping[str, bool] = {
    "JOB_STATE_SUCCEEDED": True,
    "JOB_STATE_FAILED": False,
    "JOB_STATE_CANCELLED": False,
    "JOB_STATE_EXPIRED": False,
}
"""A CustomJob's final states, and whether each is a success (`mldock status --wait`)."""


def build_request(spec: JobSpec) -> dict[str, Any]:
    """The CustomJob for `spec` in its REST JSON form (not yet validated: see validate_request)."""
    settings = {**DEFAULTS, **spec.settings}
    environment = {**spec.environment, **spec.hyperparameters_variable()}
    pool: dict[str, Any] = {
        "machineSpec": {"machineType": settings["machine_type"]},
        "replicaCount": 1,
        "containerSpec": {
            "imageUri": spec.image.reference,
            "args": list(_ENTRYPOINT_ARGS),
            "env": [{"name": name, "value": value} for name, value in environment.items()],
        },
    }
    pools = [pool]
    if spec.instance_count > 1:
        pools.append({**pool, "replicaCount": spec.instance_count - 1})
    job_spec: dict[str, Any] = {"workerPoolSpecs": pools}
    output = settings.get("base_output_directory") or next(
        (str(c.uri) for c in spec.channel(ChannelKind.OUTPUT_MODEL) if c.uri.scheme == "gs"), None
    )
    if output:
        job_spec["baseOutputDirectory"] = {"outputUriPrefix": output}
    if settings.get("service_account"):
        job_spec["serviceAccount"] = settings["service_account"]
    return {
        "displayName": spec.job_name,
        "labels": {"mldock-project": _label(spec.project), "mldock-stage": _label(spec.stage)},
        "jobSpec": job_spec,
    }


def validate_request(body: Mapping[str, Any]) -> None:
    """UserError naming the field the CustomJob message type refuses, or a required field that is missing."""
    try:
        aiplatform_v1.CustomJob.from_json(json.dumps(body), ignore_unknown_fields=False)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise UserError(f"the Vertex AI CustomJob would be rejected: {exc}") from None
    missing = _missing(body, aiplatform_v1.CustomJob, "")
    if missing:
        raise UserError(
            "the Vertex AI CustomJob would be rejected: required field(s) missing or empty: " + ", ".join(missing)
        )


def submit(body: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, str]:
    """Create the job with the JobServiceClient (Application Default Credentials); its resource name."""
    merged = {**DEFAULTS, **settings}
    if not merged.get("project"):
        raise UserError("Vertex AI needs a project: set platforms.vertex.project or --set project=PROJECT_ID")
    region = merged["region"]
    client = _client(region)
    parent = f"projects/{merged['project']}/locations/{region}"
    try:
        job = client.create_custom_job(parent=parent, custom_job=aiplatform_v1.CustomJob.from_json(json.dumps(body)))
    except google_exceptions.GoogleAPIError as exc:
        detail = redact_credentials(str(exc))  # an SDK message may echo a signed URL or token
        raise ToolingError(f"Vertex AI refused custom job {body.get('displayName')!r} in {parent}: {detail}") from exc
    job_id = job.name.rsplit("/", 1)[-1]
    url = f"https://console.cloud.google.com/vertex-ai/locations/{region}/training/{job_id}?project={merged['project']}"
    return {"job": job.name, "url": url}


def status(job: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The job's state (`job`: the resource name `projects/P/locations/R/customJobs/ID`)."""
    region = job.split("/locations/", 1)[1].split("/", 1)[0] if "/locations/" in job else settings.get("region")
    client = _client(str(region or DEFAULTS["region"]))
    try:
        found = client.get_custom_job(name=job)
    except google_exceptions.GoogleAPIError as exc:
        detail = redact_credentials(str(exc))  # an SDK message may echo a signed URL or token
        raise ToolingError(f"Vertex AI custom job {job!r}: {detail}") from exc
    answer: dict[str, Any] = {"job": job, "platform": "vertex", "status": found.state.name}
    if found.error.message:
        answer["failure_reason"] = found.error.message
    return answer


# -- internals ------------------------------------------------------------------------------------------------


def _client(region: str) -> aiplatform_v1.JobServiceClient:
    return aiplatform_v1.JobServiceClient(client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"})


def _label(value: str) -> str:
    """A label value Vertex AI accepts: lower-case letters, digits, '_' and '-', at most 63 characters."""
    return _LABEL.sub("-", value.lower())[:63]


@cache
def _required(message: type) -> tuple[str, ...]:
    return tuple(_REQUIRED.findall(message.__doc__ or ""))


def _missing(value: Mapping[str, Any], message: Any, path: str) -> list[str]:
    """The required fields (per the message types' documentation) missing below `value`, as JSON paths."""
    missing: list[str] = []
    fields = message.meta.fields
    for name in _required(message):
        key = _camel(name)
        if value.get(key) in (None, "", [], {}):
            missing.append(f"{path}{key}")
    for key, item in value.items():
        field = fields.get(_snake(key))
        inner = getattr(field, "message", None) if field is not None else None
        if inner is None or not hasattr(inner, "meta"):
            continue
        if isinstance(item, Mapping):
            missing += _missing(item, inner, f"{path}{key}.")
        elif isinstance(item, list):
            for index, element in enumerate(item):
                if isinstance(element, Mapping):
                    missing += _missing(element, inner, f"{path}{key}[{index}].")
    return missing


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
