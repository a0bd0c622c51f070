"""What one stage turns into on a distributed engine: the job every platform module translates.

    spec = job_spec(project, project.stage("prod"), "sagemaker", image=ImageRef("repo@sha256:...", pinned=True),
                    overrides={"instance_count": 2}, job_name="wine-prod-1")
    spec.channels            # the stage's channels, parsed by mldock.project.stage_storage.stage_channels
    spec.hyperparameters     # the stage's hyperparameters
    spec.environment         # the stage's container variables (MLDOCK_STAGE included), channel variables too
    spec.settings            # stages.<stage>.platforms.<platform>, then the command line's overrides
    spec.instance_count      # settings["instance_count"], default 1

Rules:
- The platform settings are checked against the published schema of `mldock.json` (the same definition the
  stage's own `platforms` object is checked with when the file loads): a bad override is a UserError naming it.
- A request must never carry a secret. A stage variable or hyperparameter whose name marks a secret (KEY,
  TOKEN, PASSWORD, ... : mldock.runtime.redact), or a value with credentials written inside it (a URI password,
  a signature parameter, an account key), is a UserError naming it, before any request is built: a job gets
  its credentials from the platform (a role, a service account, a managed identity, a Kubernetes Secret).
- The cloud SDK variables of the developer's machine (AWS_*, GOOGLE_*, ...) are never copied into a request.
- A file:// channel (a folder on the developer's machine) is a UserError naming its variable: no job can reach it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from mldock.contract import HYPERPARAMETERS
from mldock.errors import UserError
from mldock.project.config import ProjectConfig, StageConfig, schema
from mldock.project.stage_storage import stage_channels
from mldock.runtime.channels import Channel, ChannelKind, is_channel_variable
from mldock.runtime.redact import is_secret_name, redact_credentials

__all__ = [
    "PLATFORMS",
    "ImageRef",
    "JobSpec",
    "check_no_secrets",
    "default_job_name",
    "job_spec",
    "platform_settings",
]

PLATFORMS = ("sagemaker", "vertex", "azureml", "kubernetes")
"""The engines `mldock submit` turns a stage into a job for (the keys of a stage's `platforms`)."""

_NAME_CHARS = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class ImageRef:
    """The image a job runs: `pinned` when it is a registry digest (`repo@sha256:...`), else a tag."""

    reference: str
    pinned: bool

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        return cls(reference, "@sha256:" in reference)


@dataclass(frozen=True)
class JobSpec:
    """One stage of one project, with its platform settings: what every platform's request is made from."""

    project: str
    stage: str
    job_name: str
    image: ImageRef
    channels: tuple[Channel, ...]
    hyperparameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def instance_count(self) -> int:
        return int(self.settings.get("instance_count", 1))

    def channel(self, kind: ChannelKind) -> tuple[Channel, ...]:
        """The channels of one kind."""
        return tuple(c for c in self.channels if c.kind is kind)

    def plain_environment(self) -> dict[str, str]:
        """The stage's variables without the channel variables (a platform that maps a channel natively
        adds back the variables of the channels it does not map: see `channel_environment`)."""
        return {k: v for k, v in self.environment.items() if not is_channel_variable(k)}

    def channel_environment(self, channels: tuple[Channel, ...]) -> dict[str, str]:
        """The variables that set `channels`, as the stage spells them."""
        return {c.variable: self.environment[c.variable] for c in channels}

    def hyperparameters_variable(self) -> dict[str, str]:
        """`{"MLDOCK_HYPERPARAMETERS": <JSON>}` for platforms without a hyperparameters field ({} when none)."""
        if not self.hyperparameters:
            return {}
        return {HYPERPARAMETERS: json.dumps(dict(self.hyperparameters), sort_keys=True, separators=(",", ":"))}


def default_job_name(project: str, stage: str, now: datetime | None = None) -> str:
    """`<project>-<stage>-<UTC yyyymmdd-hhmmss>`, lower-case letters, digits and '-', at most 63 characters:
    a name every platform accepts (SageMaker's job name, a Kubernetes object name, an Azure ML job name)."""
    moment = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    head = _NAME_CHARS.sub("-", f"{project}-{stage}".lower()).strip("-")[: 63 - len(moment) - 1].strip("-")
    return f"{head}-{moment}"


def platform_settings(stage: StageConfig, platform: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The stage's settings for `platform` with `overrides` on top, checked against the schema's definition.

    UserError naming `--set KEY` (an override) or `stages.<stage>.platforms.<platform>.KEY` (the file).
    """
    if platform not in PLATFORMS:
        raise UserError(f"unknown platform {platform!r}: choose one of {', '.join(PLATFORMS)}")
    merged = {**dict(stage.platforms.get(platform, {})), **dict(overrides)}
    import jsonschema  # deferred: tooling only, as in mldock.project.config

    definition = schema()["$defs"]["stage"]["properties"]["platforms"]["properties"][platform]
    for error in jsonschema.Draft202012Validator(definition).iter_errors(merged):
        key = str(error.absolute_path[0]) if error.absolute_path else ""
        if not key and error.validator == "additionalProperties":
            allowed = ", ".join(sorted(definition.get("properties", {})))
            unknown = sorted(set(merged) - set(definition.get("properties", {})))
            key = unknown[0] if unknown else ""
            where = f"--set {key}" if key in overrides else f"stages.{stage.name}.platforms.{platform}.{key}"
            raise UserError(f"{where}: {platform} has no setting {key!r} (settings: {allowed})")
        where = f"--set {key}" if key in overrides else f"stages.{stage.name}.platforms.{platform}.{key}"
        raise UserError(f"{where}: {error.message}")
    return merged


def check_no_secrets(stage: StageConfig, environment: Mapping[str, str], hyperparameters: Mapping[str, Any]) -> None:
    """UserError naming the first variable or hyperparameter that would carry a secret into a request."""
    for name, value in environment.items():
        if is_secret_name(name) or redact_credentials(value) != value:
            raise UserError(
                f"stages.{stage.name}.environment.{name}: looks like a secret, and a job request must not carry "
                "one; give the job its credentials through the platform (a role, a service account, a managed "
                "identity, or a Kubernetes Secret: platforms.kubernetes.secret_env)"
            )
    for key, value in _flatten(hyperparameters):
        text = value if isinstance(value, str) else ""
        if is_secret_name(key) or redact_credentials(text) != text:
            raise UserError(
                f"stages.{stage.name}.hyperparameters.{key}: looks like a secret, and a job request must not "
                "carry one; read it inside the job from the platform's secret store instead"
            )


def job_spec(
    project: ProjectConfig,
    stage: StageConfig,
    platform: str,
    *,
    image: ImageRef,
    job_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> JobSpec:
    """The job `stage` of `project` becomes on `platform` (see the module docstring for the checks)."""
    settings = platform_settings(stage, platform, overrides or {})
    environment = stage.container_environment()
    merged_hyperparameters = {**stage.hyperparameters, **(hyperparameters or {})}
    check_no_secrets(stage, environment, merged_hyperparameters)
    channels = stage_channels(stage)
    for channel in channels:
        if channel.uri.scheme == "file":
            raise UserError(
                f"stages.{stage.name}.environment.{channel.variable}: {channel.uri} is a folder on this machine, "
                f"which a {platform} job cannot reach; give the channel a bucket (s3://, gs://, az://)"
            )
    return JobSpec(
        project=project.name,
        stage=stage.name,
        job_name=job_name or default_job_name(project.name, stage.name, now),
        image=image,
        channels=channels,
        hyperparameters=MappingProxyType(merged_hyperparameters),
        environment=MappingProxyType(environment),
        settings=MappingProxyType(settings),
    )


def _flatten(mapping: Mapping[str, Any], head: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        path = f"{head}.{key}" if head else str(key)
        if isinstance(value, Mapping):
            items.append((path, None))
            items.extend(_flatten(value, path))
        else:
            items.append((path, value))
    return items
