"""Platform environments: bare channel values resolve to the platform's storage; its settings are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import ChannelError
from mldock.runtime.channels import parse_channel_uri
from mldock.runtime.environment import Environment
from mldock.runtime.platforms import AWSEnvironment, AzureEnvironment, GCPEnvironment


@pytest.mark.parametrize(
    ("cls", "scheme"),
    [(AWSEnvironment, "s3"), (GCPEnvironment, "gs"), (AzureEnvironment, "az")],
    ids=["aws", "gcp", "azure"],
)
def test_bare_values_resolve_to_the_platform_storage(cls: type[Environment], scheme: str, tmp_path: Path) -> None:
    env = cls.from_env(
        {
            "MLDOCK_INPUT_CHANNEL_TRAIN": "bucket/data/train",
            "MLDOCK_OUTPUT_CHANNEL_METRICS": "file:///results/metrics",
            "MLDOCK_OUTPUT_MODEL_CHANNEL_MAIN": "gs://elsewhere/model",
        },
        base_dir=tmp_path,
    )
    assert isinstance(env, Environment)
    assert str(env.channel("train").uri) == f"{scheme}://bucket/data/train"
    uris = {c.name: str(c.uri) for c in env.channels}
    assert uris["metrics"] == "file:///results/metrics"
    assert uris["main"] == "gs://elsewhere/model"


def test_the_base_environment_still_requires_a_scheme(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="no URI scheme"):
        Environment.from_env({"MLDOCK_INPUT_CHANNEL_TRAIN": "bucket/data"}, base_dir=tmp_path)


@pytest.mark.parametrize("value", ["/data/train", " bucket/x", "ftp://host/x"], ids=["leading-slash", "space", "ftp"])
def test_bad_values_name_the_variable(value: str, tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="MLDOCK_INPUT_CHANNEL_TRAIN"):
        AWSEnvironment.from_env({"MLDOCK_INPUT_CHANNEL_TRAIN": value}, base_dir=tmp_path)


def test_platform_settings(tmp_path: Path) -> None:
    aws = AWSEnvironment.from_env({"AWS_DEFAULT_REGION": "us-west-2"}, base_dir=tmp_path)
    assert aws.region == "us-west-2"
    assert AWSEnvironment.from_env(
        {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "x"}, base_dir=tmp_path
    ).region == ("eu-west-1")
    assert AWSEnvironment.from_env({}, base_dir=tmp_path).region is None
    assert GCPEnvironment.from_env({"GOOGLE_CLOUD_PROJECT": "proj"}, base_dir=tmp_path).project == "proj"
    assert GCPEnvironment.from_env({"CLOUD_ML_PROJECT_ID": "vertex"}, base_dir=tmp_path).project == "vertex"
    conn = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=SECRET=="
    azure = AzureEnvironment.from_env({"AZURE_STORAGE_CONNECTION_STRING": conn}, base_dir=tmp_path)
    assert azure.storage_account == "acct"
    assert "SECRET" not in repr(azure)
    assert AzureEnvironment.from_env({"AZURE_STORAGE_ACCOUNT": "other"}, base_dir=tmp_path).storage_account == "other"
    assert repr(aws).startswith("AWSEnvironment(")


@given(st.text(max_size=40))
def test_resolution_is_total(value: str) -> None:
    for cls in (AWSEnvironment, GCPEnvironment, AzureEnvironment):
        try:
            uri = parse_channel_uri(cls.resolve_uri(value, "MLDOCK_INPUT_CHANNEL_X"), "MLDOCK_INPUT_CHANNEL_X")
        except ChannelError:
            continue
        assert uri.scheme in ("s3", "gs", "az", "file")
