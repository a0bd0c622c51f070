"""The matrix: every example's and every template's own plugin tests, run as their users run them (their own pytest
session, their mldock.json at the rootdir) under both runners; and production verification of the templates
under both runners against emulators that play "the real cloud".

Production verification here is what a user does with real credentials: an S3/GCS/Azure Blob stand-in is
started by the test on a port it chooses, the prod stage's buckets are filled through the cloud's SDK, and
`pytest --mldock-stage=prod` runs with the cloud's standard variables in its environment (AWS_ENDPOINT_URL +
keys, STORAGE_EMULATOR_HOST, AZURE_STORAGE_CONNECTION_STRING) — no mldock emulator, no MLDOCK_ variable.

Each project's image is built once (its docker runs share it: the content hash does not change between them).
The examples run from a copy, so what a run leaves in its folder never changes the repository's examples while
another test builds them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mldock.emulators import AzureBlobEmulator, Emulator, GCSEmulator, S3Emulator
from mldock.project import load_project
from mldock.project.stage_storage import StageStorage, stage_channels

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
LOCAL_BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"
ENGINE_SOCKET = Path("/run/mldock/podman.sock")
TEMPLATE_TESTS = 5

pytestmark = pytest.mark.integration

RUNNERS = [pytest.param("process", id="process"), pytest.param("docker", id="docker", marks=pytest.mark.engine)]
PROJECTS = [
    pytest.param("example:sklearn-train", 7, id="sklearn-train"),
    pytest.param("example:sklearn-serve", 7, id="sklearn-serve"),
    *(pytest.param(f"template:{t}", TEMPLATE_TESTS, id=t) for t in ("aws", "azure", "gcp", "generic")),
]
CLOUDS: dict[str, type[Emulator]] = {"aws": S3Emulator, "gcp": GCSEmulator, "azure": AzureBlobEmulator}


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without pytest's, the cloud SDKs' or mldock's own variables, plus `extra`."""
    cleared = ("PYTEST_", "MLDOCK_", "AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR_HOST")
    env = {k: v for k, v in os.environ.items() if not k.startswith(cleared)}
    if "DOCKER_HOST" not in env and ENGINE_SOCKET.exists():
        env["DOCKER_HOST"] = f"unix://{ENGINE_SOCKET}"
    return {**env, **(extra or {})}


def _pytest_in(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


class Projects:
    """Project folders by key: a copy of each example, each template initialised once (so each image builds once)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: dict[str, Path] = {}

    def __getitem__(self, key: str) -> Path:
        kind, name = key.split(":")
        if kind == "example" and key not in self._made:  # a copy: nothing a run leaves behind touches the repo
            target = self._root / name
            shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
            self._made[key] = target
        if key not in self._made:
            target = self._root / f"t-{name}"
            done = subprocess.run(
                [sys.executable, "-m", "mldock.cli.main", "init", str(target), "--template", name,
                 "--base-image", LOCAL_BASE_IMAGE],
                capture_output=True, text=True, check=False, env=_environment(),
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            self._made[key] = target
        return self._made[key]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Projects:
    return Projects(tmp_path_factory.mktemp("templates"))


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize(("project", "count"), PROJECTS)
def test_the_projects_own_tests_pass(projects: Projects, project: str, count: int, runner: str) -> None:
    result = _pytest_in(projects[project], f"--mldock-runner={runner}")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert f"{count} passed" in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("template", list(CLOUDS))
def test_production_verification_against_the_real_cloud_stand_in(
    projects: Projects, template: str, runner: str
) -> None:
    folder = projects[f"template:{template}"]
    project = load_project(folder)
    prod = project.stage("prod")
    with CLOUDS[template]() as cloud:
        credentials = dict(cloud.env())  # what a user exports for the real cloud
        storage = StageStorage({scheme: credentials for scheme in ("s3", "gs", "az")})
        channels = stage_channels(prod)
        storage.create_buckets(channels)
        train = next(c for c in channels if c.name == "train")
        storage.seed(train.uri, folder / "data" / "train")
        result = _pytest_in(folder, "--mldock-stage=prod", f"--mldock-runner={runner}", "-rs", env=credentials)
        shown = result.stdout[-8000:] + result.stderr[-2000:]
        assert result.returncode == 0, shown
        assert f"{TEMPLATE_TESTS - 2} passed, 2 skipped" in result.stdout, shown  # two tests are for dev/test only
        model = next(c for c in channels if c.name == "model")
        written = storage.read(model.uri)
        assert set(json.loads(written["model.json"])["centroids"]) == {"setosa", "versicolor", "virginica"}
