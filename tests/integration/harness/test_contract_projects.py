"""`mldock contract` passes on every platform (SageMaker, Vertex AI, Azure ML) for the examples (through the CLI)
and for a project of each template, train and serve (in process, with the mldock sources pinned for the session:
one image per project, the same image ID for every platform and task).

"serve" for a train-only project (examples/sklearn-train) is not asked: its model is served by
examples/sklearn-serve (`--model-from examples/sklearn-train`), trained as each platform trains it; a template
project trains and serves itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from mldock.errors import UserError
from mldock.harness import image_under_test, run_contract
from mldock.project.config import load_project

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"
TEMPLATES = ("generic", "aws", "gcp", "azure")
PLATFORMS = ("sagemaker", "vertex", "azureml")


def mldock(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mldock.cli.main", *args],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def contract(platform: str, *args: str) -> dict[str, Any]:
    result = mldock("contract", "--platform", platform, "--json", "--logs", *args)
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, shown
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["passed"], shown
    assert all(item["passed"] for item in report["items"]), shown
    return report


@pytest.mark.parametrize("platform", PLATFORMS, ids=PLATFORMS)
def test_the_examples_pass_training_and_hosting(platform: str) -> None:
    trained = contract(platform, "--task", "train", "--project", str(EXAMPLES / "sklearn-train"))
    served = contract(
        platform,
        "--task",
        "serve",
        "--project",
        str(EXAMPLES / "sklearn-serve"),
        "--model-from",
        str(EXAMPLES / "sklearn-train"),
    )
    assert {"train.exit"} <= {item["name"] for item in trained["items"]}
    assert {"serve.stop"} <= {item["name"] for item in served["items"]}
    assert "MLDOCK_" not in trained["started_as"] + served["started_as"]


@pytest.mark.parametrize("template", TEMPLATES, ids=TEMPLATES)
def test_a_project_of_each_template_passes_training_and_hosting_on_every_platform(
    template: str, tmp_path: Path, engine: docker.DockerClient, pinned_sources: str
) -> None:
    created = mldock("init", str(tmp_path / template), "--template", template, "--base-image", BASE_IMAGE)
    assert created.returncode == 0, created.stderr
    project = load_project(tmp_path / template)
    built = image_under_test(project, engine)
    failed: list[str] = []
    image_ids: set[str] = set()
    tasks: tuple[Literal["train", "serve"], ...] = ("train", "serve")
    for platform in PLATFORMS:
        for task in tasks:
            try:
                report = run_contract(project, task, platform=platform, client=engine)
            except UserError as exc:  # training the model to serve failed: every combination is still tried
                failed.append(f"{platform} {task}: {exc}")
                continue
            image_ids.add(report.image_id)
            if not report.passed:
                failed.append(f"{report.table()}\n{report.logs[-2000:]}")
    assert not failed, "\n\n".join(failed)
    assert image_ids == {built.image_id}  # one image for every platform and task, never rebuilt


def test_a_failing_item_exits_1_and_names_it(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    created = mldock("init", str(project), "--template", "generic", "--base-image", BASE_IMAGE)
    assert created.returncode == 0, created.stderr
    trainer = project / "trainer.py"
    trainer.write_text(trainer.read_text() + "\n\ndef train(env):\n    raise RuntimeError('broken on purpose')\n")
    result = mldock("contract", "--platform", "sagemaker", "--task", "train", "--project", str(project))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "train.exit               FAIL" in result.stdout
    assert "RuntimeError: broken on purpose" in result.stdout
    assert "train.failure-file       PASS" in result.stdout


def test_user_mistakes_are_plain_errors(tmp_path: Path) -> None:
    result = mldock(
        "contract", "--platform", "sagemaker", "--task", "serve", "--project", str(EXAMPLES / "sklearn-serve")
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--model-from" in result.stderr
    assert "Traceback" not in result.stderr
    result = mldock("contract", "--platform", "heroku", "--task", "train", "--project", str(EXAMPLES / "sklearn-train"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    project = str(EXAMPLES / "sklearn-train")
    result = mldock("contract", "--platform", "vertex", "--task", "train", "--stop", "--project", project)
    assert result.returncode == 2
    assert "--stop: only SageMaker" in result.stderr
