"""What of the host reaches a task: SDK variables, pass-through lists, mounts of file channels and credential files."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pytest

from mldock.errors import UserError
from mldock.project.config import ProjectConfig, StageConfig
from mldock.runners.addressing import loopback_sdk_variable
from mldock.runners.base import RunSpec
from mldock.runners.environment import task_environment
from mldock.runners.host_environment import check_pass_env, forwarded_variables, is_sdk_variable
from mldock.runners.mounts import CONTAINER_HOST_ROOT, Mount, container_mounts

HOST = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "very-secret-key",
    "AWS_REGION": "eu-west-1",
    "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=k",
    "GOOGLE_CLOUD_PROJECT": "proj",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443",
    "HTTPS_PROXY": "http://proxy:3128",
    "no_proxy": "localhost",
    "REQUESTS_CA_BUNDLE": "/etc/ssl/ca.pem",
    "PATH": "/usr/bin",
    "HOME": "/root",
    "MLDOCK_STAGE": "prod",
    "MY_TOKEN": "tok-123456",
    "TEAM_A": "a",
    "TEAM_B": "b",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AWS_REGION", True),
        ("AWS_ENDPOINT_URL_S3", True),
        ("AZURE_STORAGE_ACCOUNT", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("GCLOUD_PROJECT", True),
        ("STORAGE_EMULATOR_HOST", True),
        ("https_proxy", True),
        ("SSL_CERT_FILE", True),
        ("PATH", False),
        ("MLDOCK_STAGE", False),
        ("LOG_LEVEL", False),
    ],
)
def test_sdk_variables(name: str, expected: bool) -> None:
    assert is_sdk_variable(name) is expected


def test_the_sdk_variables_are_forwarded_and_nothing_else() -> None:
    assert set(forwarded_variables(HOST)) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AZURE_STORAGE_CONNECTION_STRING",
        "GOOGLE_CLOUD_PROJECT",
        "STORAGE_EMULATOR_HOST",
        "HTTPS_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
    }


def test_pass_env_adds_names_and_prefixes_never_mldock_variables() -> None:
    forwarded = forwarded_variables(HOST, ["MY_TOKEN", "TEAM_*"])
    assert {k: forwarded[k] for k in ("MY_TOKEN", "TEAM_A", "TEAM_B")} == {
        "MY_TOKEN": "tok-123456",
        "TEAM_A": "a",
        "TEAM_B": "b",
    }
    assert "MLDOCK_STAGE" not in forwarded_variables(HOST, ["M*"])


@pytest.mark.parametrize("entry", ["MLDOCK_STAGE", "MLD*", "*", "1ABC", "A-B", ""], ids=repr)
def test_an_unusable_pass_env_entry_is_a_user_error_naming_it(entry: str) -> None:
    with pytest.raises(UserError, match=re.escape(f"--pass-env: {entry!r}")):
        check_pass_env([entry], "--pass-env")


def test_the_forwarded_layer_is_the_lowest_and_masked_in_reports() -> None:
    stage = StageConfig(name="prod", production=True, environment=MappingProxyType({"MLDOCK_GREETING": "hi"}))
    project = ProjectConfig(
        root=Path("/nowhere"), name="demo", stages=MappingProxyType({"prod": stage}), pass_env=("MY_TOKEN",)
    )
    spec = RunSpec(project, stage, environment={"AWS_REGION": "us-east-2"}, pass_env=("TEAM_*",))
    env = task_environment(spec, host_environ=HOST)
    assert env.variables["AWS_REGION"] == "us-east-2"  # the run's own value wins over the host's
    assert env.variables["AWS_SECRET_ACCESS_KEY"] == "very-secret-key"
    assert env.variables["MY_TOKEN"] == "tok-123456"
    assert env.variables["TEAM_A"] == "a"
    assert env.variables["MLDOCK_STAGE"] == "prod"  # never the host's MLDOCK_*
    assert "PATH" not in env.variables
    for secret in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AZURE_STORAGE_CONNECTION_STRING", "MY_TOKEN"):
        assert env.masked[secret] == "***"
    assert "very-secret-key" not in env.redact("boto said: very-secret-key rejected")


def test_without_a_host_environment_nothing_is_forwarded() -> None:
    stage = StageConfig(name="test")
    spec = RunSpec(ProjectConfig(root=Path("/nowhere"), name="demo"), stage)
    assert task_environment(spec).variables == {"MLDOCK_STAGE": "test"}


# -- mounts -------------------------------------------------------------------------------------------------


def test_file_channels_are_mounted_inputs_read_only_outputs_read_write(tmp_path: Path) -> None:
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    results = tmp_path / "results"
    results.mkdir()
    plan = container_mounts(
        {
            "MLDOCK_INPUT_CHANNEL_TRAIN": data.as_uri(),
            "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": (results / "run-1").as_uri(),
            "MLDOCK_OUTPUT_CHANNEL_METRICS": "s3://bucket/metrics",
        }
    )
    root = f"{CONTAINER_HOST_ROOT}/channels"
    assert plan.environment["MLDOCK_INPUT_CHANNEL_TRAIN"] == f"file://{root}/input/train/train"
    assert plan.environment["MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL"] == f"file://{root}/output_model/model/run-1"
    assert plan.environment["MLDOCK_OUTPUT_CHANNEL_METRICS"] == "s3://bucket/metrics"
    assert set(plan.mounts) == {
        Mount(str(data), f"{root}/input/train/train", read_only=True),
        Mount(str(results), f"{root}/output_model/model", read_only=False),
    }


def test_a_missing_input_is_not_mounted_so_the_task_reports_it(tmp_path: Path) -> None:
    plan = container_mounts({"MLDOCK_INPUT_CHANNEL_TRAIN": (tmp_path / "nothing").as_uri()})
    assert plan.mounts == ()
    assert plan.environment["MLDOCK_INPUT_CHANNEL_TRAIN"].startswith(f"file://{CONTAINER_HOST_ROOT}/")


def test_a_missing_output_parent_is_made_only_when_buckets_may_be_created(tmp_path: Path) -> None:
    uri = (tmp_path / "new" / "run").as_uri()
    assert container_mounts({"MLDOCK_OUTPUT_CHANNEL_M": uri}).mounts == ()
    plan = container_mounts({"MLDOCK_OUTPUT_CHANNEL_M": uri, "MLDOCK_CREATE_MISSING_BUCKETS": "true"})
    assert plan.mounts == (Mount(str(tmp_path / "new"), f"{CONTAINER_HOST_ROOT}/channels/output/m", read_only=False),)


def test_credential_files_and_the_aws_folder_are_mounted_read_only(tmp_path: Path) -> None:
    key = tmp_path / "sa.json"
    key.write_text("{}")
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\n")
    plan = container_mounts({"GOOGLE_APPLICATION_CREDENTIALS": str(key), "SSL_CERT_FILE": "/no/such/ca.pem"}, home=home)
    files = f"{CONTAINER_HOST_ROOT}/files"
    assert plan.environment["GOOGLE_APPLICATION_CREDENTIALS"] == f"{files}/GOOGLE_APPLICATION_CREDENTIALS"
    assert plan.environment["AWS_SHARED_CREDENTIALS_FILE"] == f"{files}/AWS_SHARED_CREDENTIALS_FILE"
    assert plan.environment["SSL_CERT_FILE"] == "/no/such/ca.pem"  # nothing there to mount: left as it is
    assert "AWS_CONFIG_FILE" not in plan.environment
    assert set(plan.mounts) == {
        Mount(str(key), f"{files}/GOOGLE_APPLICATION_CREDENTIALS"),
        Mount(str(home / ".aws" / "credentials"), f"{files}/AWS_SHARED_CREDENTIALS_FILE"),
    }
    assert all(m.read_only for m in plan.mounts)


def test_a_mount_is_an_engine_bind_mount() -> None:
    assert Mount("/a", "/b", read_only=False).engine_spec() == {
        "Type": "bind",
        "Source": "/a",
        "Target": "/b",
        "ReadOnly": False,
    }


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "AWS_ENDPOINT_URL"),
        ({"STORAGE_EMULATOR_HOST": "localhost:4443"}, "STORAGE_EMULATOR_HOST"),
        (
            {"AZURE_STORAGE_CONNECTION_STRING": "AccountName=d;BlobEndpoint=http://127.0.0.1:10000/d;"},
            "AZURE_STORAGE_CONNECTION_STRING",
        ),
        ({"AWS_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com"}, None),
        ({"NO_PROXY": "127.0.0.1"}, None),
        ({"MLDOCK_URL": "http://127.0.0.1:1"}, None),
    ],
    ids=["aws", "gcs", "azure", "real-cloud", "no-proxy", "not-sdk"],
)
def test_a_loopback_endpoint_is_found(variables: dict[str, str], expected: str | None) -> None:
    assert loopback_sdk_variable(variables) == expected
