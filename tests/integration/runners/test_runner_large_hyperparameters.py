"""Hyperparameters of any size reach the training step under both runners: they travel in a file
(MLDOCK_HYPERPARAMETERS_FILE), not in one environment variable, which Linux limits to 128 KiB.

The docker cases reuse the parity tests' project (same name and content), so its image is built at most once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from runner_project import write_project

from mldock.project.config import ProjectConfig
from mldock.runners import RunSpec
from mldock.runners.base import Runner
from mldock.runners.docker import DockerRunner
from mldock.runners.process import ProcessRunner

pytestmark = [pytest.mark.integration]

SECRET = "tok-large-hyperparameters-5e1c"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ProjectConfig:
    return write_project(tmp_path_factory.mktemp("large") / "project", name="runner-parity", requirements="boto3\n")


def _runner(name: str) -> Runner:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLDOCK_"))}
    if name == "docker":
        return DockerRunner(host_environ=environ, home=None)
    return ProcessRunner(host_environ=environ)


@pytest.mark.parametrize("size", [pytest.param(200_000, id="200KB"), pytest.param(2_000_000, id="2MB")])
@pytest.mark.parametrize(
    "runner_name",
    [pytest.param("process", id="process"), pytest.param("docker", id="docker", marks=pytest.mark.engine)],
)
def test_a_large_hyperparameter_reaches_the_step(runner_name: str, size: int, project: ProjectConfig) -> None:
    big = "".join(chr(ord("a") + i % 26) for i in range(size))
    runner = _runner(runner_name)
    try:
        spec = RunSpec(project, project.stage("test"), hyperparameters={"big": big, "api_token": SECRET})
        result = runner.run(spec)
        result.assert_succeeded()
        assert result.base_dir is not None
        params = json.loads((Path(result.base_dir) / "model" / "model" / "params.json").read_text())
        assert params["big"] == big
        assert params["scale"] == 3  # the stage's hyperparameters travel with them
        assert params["api_token"] == SECRET
        assert SECRET not in result.logs  # the step prints its hyperparameters: masked still
        assert "training done" in result.logs
        assert json.loads(result.environment["MLDOCK_HYPERPARAMETERS"])["api_token"] == "***"
    finally:
        runner.cleanup()
