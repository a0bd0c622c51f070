"""SageMaker: a stage as a `CreateTrainingJob` request, checked against botocore's SageMaker service model.

    request = build_request(spec)          # the CreateTrainingJob parameters, as boto3 takes them
    validate_request(request)              # UserError naming the field SageMaker would reject
    submit(request, spec.settings)         # boto3's create_training_job; returns the job's name and ARN
    status("wine-prod-20261202-101500", {"region": "eu-west-1"})

How a stage maps (mldock.runtime.sagemaker recognises the same layout inside the container):
- s3:// input and input-model channels become `InputDataConfig` channels of the same name (File mode):
  SageMaker downloads them to `/opt/ml/input/data/<name>` before the start, so their MLDOCK_* variables are
  dropped. One s3:// output-model channel becomes `OutputDataConfig.S3OutputPath` (SageMaker packs
  `/opt/ml/model` into `<path>/<job>/output/model.tar.gz`) unless `output_path` is set.
- Every other channel (gs://, az://, s3:// outputs, a second model channel) keeps its MLDOCK_* variable in
  `Environment`: the container moves that data itself, exactly as in `mldock run`.
- Hyperparameters become `HyperParameters` as JSON text, as the SageMaker SDK writes them: `50` -> "50",
  `"adam"` -> "\\"adam\\"" (mldock.runtime.sagemaker.unquote_values turns a JSON-quoted string back into the
  text, and typed reads turn "50" back into 50), so a text value that looks like a number stays text.
- `ResourceConfig` from instance_type/instance_count/volume_size_gb, `StoppingCondition` from
  max_runtime_seconds, `CheckpointConfig` from checkpoint_uri, `RoleArn` from role_arn.

Validation is botocore's own `ParamValidator` on the operation's input shape (required members, unknown
members, types, minimums), then the shape's `max` and `pattern` constraints that the service enforces and
botocore leaves to the server (job name, role ARN, variable names, value lengths). Credentials come from
boto3's standard chain; endpoints from its standard variables (AWS_ENDPOINT_URL), so moto's SageMaker API can
stand in for the real one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

from mldock.errors import ToolingError, UserError
from mldock.runtime.channels import Channel, ChannelKind
from mldock.runtime.redact import redact_credentials
from mldock.submit.job import JobSpec

__all__ = [
    "DEFAULTS",
    "FINAL_STATES",
    "LOG_GROUP",
    "build_request",
    "describe",
    "input_shape",
    "logs",
    "status",
    "submit",
    "validate_request",
]

DEFAULTS: Mapping[str, Any] = {
    "instance_type": "ml.m5.large",
    "volume_size_gb": 30,
    "max_runtime_seconds": 86400,
}
_OPERATION = "CreateTrainingJob"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
"""Where SageMaker writes a training job's output: one CloudWatch Logs stream per host, `<job>/<host>-<id>`."""
FINAL_STATES: Mapping[str, bool] = {"Completed": True, "Failed": False, "Stopped": False}
"""A job's final TrainingJobStatus values, and whether each is a success (`mldock status --wait`)."""


def build_request(spec: JobSpec) -> dict[str, Any]:
    """The CreateTrainingJob parameters for `spec` (not yet validated: see validate_request)."""
    settings = {**DEFAULTS, **spec.settings}
    native_inputs = _native_inputs(spec)
    model_channels = [c for c in spec.channel(ChannelKind.OUTPUT_MODEL) if c.uri.scheme == "s3"]
    output_path = settings.get("output_path")
    native_model: tuple[Channel, ...] = ()
    if output_path is None and len(model_channels) == 1:
        native_model = (model_channels[0],)
        output_path = str(model_channels[0].uri)
    if output_path is None:
        raise UserError(
            f"stages.{spec.stage}: SageMaker needs an s3:// output path for model.tar.gz: give the stage one "
            "s3:// output-model channel, or set platforms.sagemaker.output_path (or --set output_path=s3://...)"
        )
    native = {*native_inputs, *native_model}
    remaining = tuple(c for c in spec.channels if c not in native)
    environment = {**spec.plain_environment(), **spec.channel_environment(remaining)}
    request: dict[str, Any] = {
        "TrainingJobName": spec.job_name,
        "AlgorithmSpecification": {"TrainingImage": spec.image.reference, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {
            "InstanceType": settings["instance_type"],
            "InstanceCount": spec.instance_count,
            "VolumeSizeInGB": settings["volume_size_gb"],
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings["max_runtime_seconds"]},
        "HyperParameters": {k: json.dumps(v) for k, v in spec.hyperparameters.items()},
        "Environment": environment,
        "Tags": [{"Key": "mldock:project", "Value": spec.project}, {"Key": "mldock:stage", "Value": spec.stage}],
    }
    if settings.get("role_arn"):
        request["RoleArn"] = settings["role_arn"]
    if native_inputs:
        request["InputDataConfig"] = [_input_channel(c) for c in native_inputs]
    if "checkpoint_uri" in settings:
        request["CheckpointConfig"] = {"S3Uri": settings["checkpoint_uri"], "LocalPath": "/opt/ml/checkpoints"}
    return request


@cache
def input_shape() -> StructureShape:
    """CreateTrainingJob's input shape from botocore's bundled SageMaker service model (offline; read once)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model(_OPERATION).input_shape
    assert isinstance(shape, StructureShape)
    return shape


def validate_request(request: Mapping[str, Any]) -> None:
    """UserError naming every field SageMaker's model refuses (botocore's validator, then max/pattern)."""
    shape = input_shape()
    report = ParamValidator().validate(dict(request), shape)
    problems = report.generate_report().splitlines() if report.has_errors() else []
    problems += _constraints(request, shape, "")
    if problems:
        listed = "\n".join(f"  - {line.strip()}{_hint(line)}" for line in problems)
        raise UserError(f"the SageMaker {_OPERATION} request would be rejected:\n{listed}")


def submit(request: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, str]:
    """Send the request with boto3 (credentials and endpoint from its standard chain); the job's name and ARN."""
    client = _client(settings)
    try:
        answer = client.create_training_job(**request)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        detail = redact_credentials(str(exc))  # an SDK message may echo a signed URL or token
        raise ToolingError(f"SageMaker refused training job {request.get('TrainingJobName')!r}: {detail}") from exc
    return {"job": str(request["TrainingJobName"]), "arn": str(answer.get("TrainingJobArn", ""))}


def describe(job: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """DescribeTrainingJob's answer for `job` (ToolingError naming the job when SageMaker has none)."""
    client = _client(settings)
    try:
        answer: dict[str, Any] = client.describe_training_job(TrainingJobName=job)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        detail = redact_credentials(str(exc))  # an SDK message may echo a signed URL or token
        raise ToolingError(f"SageMaker training job {job!r}: {detail}") from exc
    return answer


def status(job: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The job's state in a few fields: status, secondary status, failure reason, model artifacts."""
    answer = describe(job, settings)
    found = {
        "job": job,
        "platform": "sagemaker",
        "status": answer.get("TrainingJobStatus", "Unknown"),
        "secondary_status": answer.get("SecondaryStatus", ""),
        "arn": answer.get("TrainingJobArn", ""),
    }
    if answer.get("FailureReason"):
        found["failure_reason"] = answer["FailureReason"]
    artifacts = answer.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if artifacts:
        found["model_artifacts"] = artifacts
    return found


def logs(job: str, settings: Mapping[str, Any]) -> Iterator[str]:
    """The job's log lines so far, host by host (`[algo-1] line`), from CloudWatch Logs; none before it starts."""
    client = boto3.session.Session(region_name=settings.get("region")).client("logs")
    try:
        pages = client.get_paginator("describe_log_streams").paginate(
            logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/"
        )
        streams = [stream["logStreamName"] for page in pages for stream in page.get("logStreams", [])]
        for stream in streams:
            host = stream.split("/", 1)[1].rsplit("-", 1)[0]
            token: str | None = None
            while True:
                after = {"nextToken": token} if token else {}
                page = client.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True, **after)
                for event in page.get("events", []):
                    yield f"[{host}] {event['message']}"
                if page.get("nextForwardToken") in (None, token):
                    break
                token = page["nextForwardToken"]
    except client.exceptions.ResourceNotFoundException:
        return
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        detail = redact_credentials(str(exc))  # an SDK message may echo a signed URL or token
        raise ToolingError(f"the logs of SageMaker training job {job!r} ({LOG_GROUP}): {detail}") from exc


# -- internals ------------------------------------------------------------------------------------------------

_SETTING_FOR = {
    "RoleArn": "role_arn",
    "ResourceConfig.InstanceType": "instance_type",
    "ResourceConfig.InstanceCount": "instance_count",
    "ResourceConfig.VolumeSizeInGB": "volume_size_gb",
    "StoppingCondition.MaxRuntimeInSeconds": "max_runtime_seconds",
    "OutputDataConfig.S3OutputPath": "output_path",
    "CheckpointConfig.S3Uri": "checkpoint_uri",
    "TrainingJobName": None,
}


def _hint(line: str) -> str:
    """Which setting or option feeds the field a problem names."""
    for field, setting in _SETTING_FOR.items():
        if f'"{field}"' in line or f" {field}," in line or f" {field}:" in line:
            if setting is None:
                return " (--job-name)"
            return f" (platforms.sagemaker.{setting}, or --set {setting}=...)"
    return ""



def _native_inputs(spec: JobSpec) -> tuple[Channel, ...]:
    """The s3:// input and input-model channels SageMaker downloads itself (one per name: the first wins)."""
    chosen: dict[str, Channel] = {}
    for channel in spec.channels:
        if channel.kind.is_input and channel.uri.scheme == "s3":
            chosen.setdefault(channel.name, channel)
    return tuple(chosen.values())


def _input_channel(channel: Channel) -> dict[str, Any]:
    return {
        "ChannelName": channel.name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": str(channel.uri),
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "InputMode": "File",
    }


def _client(settings: Mapping[str, Any]) -> Any:
    try:
        return boto3.session.Session(region_name=settings.get("region")).client("sagemaker")
    except botocore.exceptions.BotoCoreError as exc:
        raise UserError(f"SageMaker client: {exc} (set platforms.sagemaker.region or --set region=...)") from exc


def _constraints(value: Any, shape: Shape, path: str) -> list[str]:
    """`max` and `pattern` of the shape (and its members), which botocore's validator does not check."""
    problems: list[str] = []
    limits = shape.metadata
    name = path or "(request)"
    if isinstance(value, str | list | dict) and "max" in limits and len(value) > int(limits["max"]):
        problems.append(f"Invalid length for parameter {name}, value: {len(value)}, valid max length: {limits['max']}")
    if isinstance(value, str) and "pattern" in limits and not _matches(str(limits["pattern"]), value):
        problems.append(f"Invalid value for parameter {name}: {value!r} does not match {limits['pattern']!r}")
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        for key, item in value.items():
            if key in shape.members:
                problems += _constraints(item, shape.members[key], f"{path}.{key}" if path else key)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            problems += _constraints(item, shape.member, f"{name}[{index}]")
    elif isinstance(shape, MapShape) and isinstance(value, Mapping):
        for key, item in value.items():
            problems += _constraints(key, shape.key, f"{name} key {key!r}")
            problems += _constraints(item, shape.value, f"{name}.{key}")
    return problems


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value, re.DOTALL) is not None
    except re.error:  # a Java-only construct: the server checks it
        return True
