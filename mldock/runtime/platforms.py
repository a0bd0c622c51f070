"""Platform environments, named as in the original MLDOCK documentation: a channel value written without a
scheme resolves to the platform's own storage, and the platform's settings live on the environment.

    env = AWSEnvironment.from_env({"MLDOCK_INPUT_CHANNEL_TRAIN": "my-bucket/data/train", "AWS_REGION": "eu-west-1"})
    str(env.channel("train").uri)     # "s3://my-bucket/data/train"
    env.region                        # "eu-west-1"

A value with a scheme (s3://, gs://, az://, file://) is used as written on every platform, so one stage can
still mix clouds. A bare value must look like `bucket/optional/prefix`: a leading slash is refused, because
`/data` is far more likely a forgotten `file://` than a bucket.

    class MyTrainer(TrainingContainer):
        environment_class = AWSEnvironment
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from mldock.errors import ChannelError
from mldock.runtime.channels import require_scheme
from mldock.runtime.environment import Environment

__all__ = ["AWSEnvironment", "AzureEnvironment", "GCPEnvironment", "PlatformEnvironment"]

P = TypeVar("P", bound="PlatformEnvironment")


@dataclass(frozen=True, repr=False)
class PlatformEnvironment(Environment):
    """An Environment whose bare channel values (`bucket/prefix`) resolve to `scheme`://bucket/prefix."""

    scheme: ClassVar[str] = ""
    platform: ClassVar[str] = ""

    @classmethod
    def resolve_uri(cls, value: str, variable: str) -> str:
        """`bucket/prefix` -> `<scheme>://bucket/prefix`; a value with a scheme is checked and kept."""
        if "://" in value or ":" in value.split("/", 1)[0]:
            return require_scheme(value, variable)
        if not value.strip() or value != value.strip():
            raise ChannelError(f"{variable}: {value!r} is empty or has surrounding whitespace")
        if value.startswith("/"):
            raise ChannelError(
                f"{variable}: {value!r} starts with '/'; on {cls.platform} write bucket/prefix for "
                f"{cls.scheme}://bucket/prefix, or file://{value} for a local folder"
            )
        return require_scheme(f"{cls.scheme}://{value}", variable)

    @classmethod
    def from_env(cls: type[P], environ: Mapping[str, str] | None = None, base_dir: Path | str | None = None) -> P:
        """As Environment.from_env, plus the platform's own settings read from the same `environ`."""
        source = dict(os.environ if environ is None else environ)
        env = super().from_env(source, base_dir)
        changes: dict[str, Any] = cls._platform_settings(source)
        return dataclasses.replace(env, **changes)

    @classmethod
    def _platform_settings(cls, environ: Mapping[str, str]) -> dict[str, str | None]:
        return {}


@dataclass(frozen=True, repr=False)
class AWSEnvironment(PlatformEnvironment):
    """SageMaker / AWS: bare channel values are S3 (`bucket/prefix`); `region` from AWS_REGION or
    AWS_DEFAULT_REGION. Endpoints and credentials stay with boto3 (AWS_ENDPOINT_URL, roles, profiles)."""

    scheme: ClassVar[str] = "s3"
    platform: ClassVar[str] = "AWS"
    region: str | None = None

    @classmethod
    def _platform_settings(cls, environ: Mapping[str, str]) -> dict[str, str | None]:
        return {"region": environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None}


@dataclass(frozen=True, repr=False)
class GCPEnvironment(PlatformEnvironment):
    """Vertex AI / GCP: bare channel values are GCS (`bucket/prefix`); `project` from GOOGLE_CLOUD_PROJECT
    (or GCLOUD_PROJECT, CLOUD_ML_PROJECT_ID as Vertex AI sets it). Endpoints stay with the SDK
    (STORAGE_EMULATOR_HOST)."""

    scheme: ClassVar[str] = "gs"
    platform: ClassVar[str] = "GCP"
    project: str | None = None

    @classmethod
    def _platform_settings(cls, environ: Mapping[str, str]) -> dict[str, str | None]:
        for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUD_ML_PROJECT_ID"):
            if environ.get(name):
                return {"project": environ[name]}
        return {"project": None}


@dataclass(frozen=True, repr=False)
class AzureEnvironment(PlatformEnvironment):
    """Azure ML: bare channel values are Blob Storage (`container/prefix`); `storage_account` from
    AZURE_STORAGE_ACCOUNT, else the AccountName of AZURE_STORAGE_CONNECTION_STRING (the key is never kept)."""

    scheme: ClassVar[str] = "az"
    platform: ClassVar[str] = "Azure"
    storage_account: str | None = None

    @classmethod
    def _platform_settings(cls, environ: Mapping[str, str]) -> dict[str, str | None]:
        account = environ.get("AZURE_STORAGE_ACCOUNT") or _account_name(
            environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
        )
        return {"storage_account": account or None}


def _account_name(connection_string: str) -> str:
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accountname":
            return value.strip()
    return ""
