"""mldock.json's platforms decide which cloud SDKs the image gets besides the project's requirements."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from mldock.image import plan_build
from mldock.image.builder import with_platform_requirements
from mldock.image.wheelhouse import platform_requirements
from mldock.project.config import PLATFORMS, load_project

GCS = next(
    line.partition(";")[0].strip()
    for line in importlib.metadata.requires("mldock") or []
    if line.startswith("google-cloud-storage") and '"gcs"' in line
)


def test_the_gcs_extra_is_the_spec_vertex_adds() -> None:
    assert GCS.startswith("google-cloud-storage>=")
    assert platform_requirements(PLATFORMS, "") == (GCS,)
    assert platform_requirements(("vertex",), "boto3==1.40\n") == (GCS,)


@pytest.mark.parametrize("platforms", [(), ("sagemaker",), ("azureml",), ("kubernetes",), ("sagemaker", "azureml")])
def test_platforms_that_mount_their_data_add_nothing(platforms: tuple[str, ...]) -> None:
    assert platform_requirements(platforms, "") == ()


@pytest.mark.parametrize(
    "requirements",
    [
        "google-cloud-storage==2.18.2\n",
        "Google_Cloud.Storage>=2\n",
        "boto3\ngoogle-cloud-storage[tracing] ; python_version >= '3.9'  # pinned elsewhere\n",
        "google-cloud-storage @ https://example.invalid/google_cloud_storage-2.18.2-py2.py3-none-any.whl\n",
    ],
    ids=["pinned", "other-spelling", "extras-marker-comment", "url"],
)
def test_requirements_that_name_the_sdk_keep_their_own(requirements: str) -> None:
    assert platform_requirements(("vertex",), requirements) == ()
    assert with_platform_requirements(requirements, ("vertex",)) == requirements


@pytest.mark.parametrize(
    "requirements",
    ["# google-cloud-storage\n", "-r google-cloud-storage.txt\n", "google-cloud-storage-extra\n"],
    ids=["comment", "option", "another-project"],
)
def test_lines_that_do_not_name_the_sdk_do_not_count(requirements: str) -> None:
    assert platform_requirements(("vertex",), requirements) == (GCS,)


def test_added_lines_follow_the_project_requirements() -> None:
    text = with_platform_requirements("boto3", ("sagemaker", "vertex"))
    lines = text.splitlines()
    assert lines[0] == "boto3"
    assert lines[-1] == GCS
    assert text.endswith("\n")
    assert with_platform_requirements("boto3\n", ("sagemaker",)) == "boto3\n"


def write_project(root: Path, platforms: list[str] | None, requirements: str = "boto3\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {"name": "demo", "base_image": "localhost/mldock-python:3.11-bookworm"}
    if platforms is not None:
        config["platforms"] = platforms
    (root / "mldock.json").write_text(json.dumps(config))
    (root / "trainer.py").write_text("def train(env):\n    pass\n")
    (root / "requirements.txt").write_text(requirements)
    return root


def test_the_plan_installs_the_platform_sdk_and_its_hash_follows_the_platforms(tmp_path: Path) -> None:
    every = plan_build(load_project(write_project(tmp_path / "every", None)))
    vertex = plan_build(load_project(write_project(tmp_path / "vertex", ["vertex"])))
    aws = plan_build(load_project(write_project(tmp_path / "aws", ["sagemaker"])))
    assert GCS in every.requirements.splitlines()
    assert vertex.requirements == every.requirements
    assert aws.requirements == "boto3\n"
    assert "-r /tmp/wheels/deps/requirements.txt" in aws.dockerfile
    assert len({every.content_hash, vertex.content_hash, aws.content_hash}) == 3  # mldock.json differs too
    again = plan_build(load_project(write_project(tmp_path / "aws", ["sagemaker", "vertex"])))
    assert again.requirements == every.requirements
    assert again.content_hash not in (aws.content_hash, every.content_hash)


def test_a_project_without_requirements_still_gets_the_sdk(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", None)
    (root / "requirements.txt").unlink()
    plan = plan_build(load_project(root))
    assert plan.requirements.splitlines()[-1] == GCS
    assert "-r /tmp/wheels/deps/requirements.txt" in plan.dockerfile
