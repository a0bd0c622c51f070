"""What a stage turns into before any platform sees it: settings (file, then command line), secrets refused,
job names every platform accepts, the image reference."""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import UserError
from mldock.project import load_project
from mldock.project.config import ProjectConfig
from mldock.submit import ImageRef, job_spec
from mldock.submit.image import job_image
from mldock.submit.job import default_job_name
from mldock.submit.records import load_record, save_record

IMAGE = ImageRef.parse("reg.example.com/team/p@sha256:" + "0" * 64)
NOW = datetime(2026, 12, 2, 10, 15, 0, tzinfo=timezone.utc)


def project_with(tmp_path: Path, stage: dict[str, Any]) -> ProjectConfig:
    (tmp_path / "mldock.json").write_text(json.dumps({"name": "p", "stages": {"prod": stage}}))
    return load_project(tmp_path)


def test_command_line_settings_override_the_stage_s(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"platforms": {"kubernetes": {"namespace": "ml", "cpu": "1"}}})
    spec = job_spec(project, project.stage("prod"), "kubernetes", image=IMAGE, overrides={"cpu": "4"}, now=NOW)
    assert dict(spec.settings) == {"namespace": "ml", "cpu": "4"}


def test_an_unknown_setting_on_the_command_line_is_named(tmp_path: Path) -> None:
    project = project_with(tmp_path, {})
    with pytest.raises(UserError, match=r"--set rolearn: sagemaker has no setting 'rolearn' \(settings: .*role_arn"):
        job_spec(project, project.stage("prod"), "sagemaker", image=IMAGE, overrides={"rolearn": "x"})


def test_a_bad_setting_value_is_named(tmp_path: Path) -> None:
    project = project_with(tmp_path, {})
    with pytest.raises(UserError, match="--set instance_count: 0 is less than the minimum of 1"):
        job_spec(project, project.stage("prod"), "vertex", image=IMAGE, overrides={"instance_count": 0})


def test_the_stage_s_platform_settings_are_checked_when_the_file_loads(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"stages\.prod\.platforms\.sagemaker.*unknown field\(s\) 'role'"):
        project_with(tmp_path, {"platforms": {"sagemaker": {"role": "x"}}})


@pytest.mark.parametrize(
    ("stage", "culprit"),
    [
        ({"environment": {"API_TOKEN": "t0k3n-value"}}, "stages.prod.environment.MLDOCK_API_TOKEN"),
        ({"environment": {"DB": "postgres://user:hunter22@db/x"}}, "stages.prod.environment.MLDOCK_DB"),
        ({"hyperparameters": {"wandb_api_key": "k3y-value"}}, "stages.prod.hyperparameters.wandb_api_key"),
        ({"hyperparameters": {"logger": {"password": "pw-value"}}}, "stages.prod.hyperparameters.logger.password"),
    ],
    ids=["secret-name", "uri-password", "hyperparameter", "nested-hyperparameter"],
)
@pytest.mark.parametrize("platform", ["sagemaker", "vertex", "azureml", "kubernetes"])
def test_a_secret_never_reaches_a_request(tmp_path: Path, platform: str, stage: dict[str, Any], culprit: str) -> None:
    project = project_with(tmp_path, stage)
    with pytest.raises(UserError) as caught:
        job_spec(project, project.stage("prod"), platform, image=IMAGE)
    assert culprit in str(caught.value)
    for secret in ("t0k3n-value", "hunter22", "k3y-value", "pw-value"):
        assert secret not in str(caught.value)


@pytest.mark.parametrize("platform", ["sagemaker", "vertex", "azureml", "kubernetes"])
def test_a_channel_on_this_machine_is_refused_naming_it(tmp_path: Path, platform: str) -> None:
    project = project_with(tmp_path, {"environment": {"INPUT_CHANNEL_TRAIN": f"file://{tmp_path}/data"}})
    with pytest.raises(UserError, match=r"stages\.prod\.environment\.MLDOCK_INPUT_CHANNEL_TRAIN: file://.* cannot"):
        job_spec(project, project.stage("prod"), platform, image=IMAGE)


@given(
    project=st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,62}", fullmatch=True),
    stage=st.from_regex(r"[a-z][a-z0-9_-]{0,62}", fullmatch=True),
)
def test_default_job_names_suit_every_platform(project: str, stage: str) -> None:
    name = default_job_name(project, stage, NOW)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)  # Kubernetes (DNS-1123), Azure ML
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)  # SageMaker's TrainingJobName
    assert name.endswith("-20261202-101500")


def test_the_image_is_the_given_digest_else_the_content_hash_tag_with_a_note(tmp_path: Path) -> None:
    project = project_with(tmp_path, {})
    pinned, note = job_image(project, image=IMAGE.reference)
    assert (pinned, note) == (IMAGE, None)
    with socket.socket() as closed:  # a registry address where nothing answers
        closed.bind(("127.0.0.1", 0))
        registry = f"127.0.0.1:{closed.getsockname()[1]}/team"
    tagged, note = job_image(project, registry=registry, insecure=True)
    assert re.fullmatch(rf"{re.escape(registry)}/p:[0-9a-f]{{12}}", tagged.reference)
    assert not tagged.pinned
    assert note is not None
    assert "the registry could not say which digest it names" in note
    assert "--image REPOSITORY@sha256:" in note
    local, note = job_image(project)
    assert local.reference.startswith("localhost/mldock/p:")
    assert note is not None
    assert "cannot pull it" in note
    with pytest.raises(UserError, match=r"--image 'reg\.example\.com/p:1 2' is not an image reference"):
        job_image(project, image="reg.example.com/p:1 2")
    with pytest.raises(UserError, match=r"--image \(with a user part, not shown\) is not") as caught:
        job_image(project, image="ci:hunter22@reg.example.com/p:1")
    assert "hunter22" not in str(caught.value)


def test_a_job_record_is_found_by_its_id_or_its_name(tmp_path: Path) -> None:
    record = {"platform": "vertex", "job": "projects/p/locations/r/customJobs/123", "name": "p-prod-1"}
    save_record(tmp_path, record)
    assert load_record(tmp_path, "projects/p/locations/r/customJobs/123") == record
    assert load_record(tmp_path, "p-prod-1") == record
    assert load_record(tmp_path, "other") is None
