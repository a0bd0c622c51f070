"""`mldock init`: a complete project per template, refusal of a non-empty folder, nothing half-written. (The
generated projects' own tests run under both runners in tests/examples/test_examples.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LOCAL_BASE_IMAGE, Mldock, assert_plain_error

from mldock.project import DEFAULT_BASE_IMAGE, load_project

TEMPLATES = ["generic", "aws", "gcp", "azure"]
SCHEMES = {"generic": "s3", "aws": "s3", "gcp": "gs", "azure": "az"}
SDKS = {"generic": "boto3", "aws": "boto3", "gcp": "google-cloud-storage", "azure": "azure-storage-blob"}
FILES = {
    ".dockerignore",
    "README.md",
    "assets.py",
    "data/train/iris.csv",
    "mldock.json",
    "payload.json",
    "predictor.py",
    "pytest.ini",
    "requirements.txt",
    "tests/test_container.py",
    "trainer.py",
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_init_writes_a_complete_valid_project(mldock: Mldock, tmp_path: Path, template: str) -> None:
    result = mldock("init", "Churn Model", "--template", template, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["name"] == "churn-model"
    assert set(report["files"]) == FILES
    project = load_project(tmp_path / "Churn Model")
    assert project.name == "churn-model"
    assert project.base_image == DEFAULT_BASE_IMAGE
    assert set(project.stages) == {"dev", "test", "prod"}
    assert project.stage("prod").production
    assert not project.stage("dev").production
    assert project.stage("dev").environment["MLDOCK_INPUT_CHANNEL_TRAIN"].startswith(f"{SCHEMES[template]}://")
    assert SDKS[template] in (tmp_path / "Churn Model" / "requirements.txt").read_text()
    assert "{{" not in "".join(p.read_text() for p in (tmp_path / "Churn Model").rglob("*") if p.is_file())


def test_init_takes_a_base_image_and_a_name(mldock: Mldock, tmp_path: Path) -> None:
    result = mldock("init", "p", "--base-image", LOCAL_BASE_IMAGE, "--name", "iris.v2")
    assert result.returncode == 0, result.stderr
    project = load_project(tmp_path / "p")
    assert (project.name, project.base_image) == ("iris.v2", LOCAL_BASE_IMAGE)
    assert "cd p" in result.stdout


def test_init_refuses_a_non_empty_folder_and_leaves_it_alone(mldock: Mldock, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    assert_plain_error(mldock("init", str(target)), 2, "is not empty; choose a new folder or pass --force")
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]  # no staging folder left behind
    result = mldock("init", str(target), "--force")
    assert result.returncode == 0, result.stderr
    assert (target / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (target / "mldock.json").is_file()


def test_init_into_an_empty_existing_folder(mldock: Mldock, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert mldock("init", "empty").returncode == 0
    assert (tmp_path / "empty" / "assets.py").is_file()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["x", "--name", "Bad Name"], "is not a valid project name", id="bad-name"),
        pytest.param(["x", "--template", "k8s"], "'k8s' is not one of", id="bad-template"),
    ],
)
def test_init_bad_arguments(mldock: Mldock, tmp_path: Path, args: list[str], fragment: str) -> None:
    assert_plain_error(mldock("init", *args), 2, fragment)
    assert not (tmp_path / "x").exists()


def test_init_over_a_file_is_refused(mldock: Mldock, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    assert_plain_error(mldock("init", "f"), 2)
