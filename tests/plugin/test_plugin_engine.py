"""The plugin with a real container engine: the docker runner (image built, cached) and emulator containers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_project import SECRET, write_sample_project

pytestmark = [pytest.mark.integration, pytest.mark.engine]

BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"
PROD_DIR = Path("/tmp/mldock-plugin-engine-prod")
"""Fixed, so the project's content (hence its image tag) is the same on every run: built once, then cached."""

DOCKER_TESTS = """
import json
import pytest


def test_trains_in_the_image(mldock_container, mldock_storage):
    mldock_storage.input("train", {"data.csv": b"a\\nb\\nc\\nd\\n"})
    result = mldock_container("train", hyperparameters={"epochs": 2})
    result.assert_succeeded()
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert (metrics["rows"], metrics["epochs"], metrics["stage"]) == (4, 2, "test")
    assert result.models["model"]


def test_failure_report_from_the_image(mldock_container, mldock_storage):
    mldock_storage.input("train", {"data.csv": b"BAD\\n"})
    mldock_container("train").assert_succeeded()


def test_serves_from_the_image(mldock_container):
    with mldock_container.serve() as endpoint:
        assert endpoint.invoke(b'{"rows": [[1, 1]]}', "application/json").json() == {"predictions": [4.0]}


@pytest.mark.mldock(runner="process")
def test_same_emulators_from_a_host_process(mldock_container, mldock_storage):
    mldock_storage.input("train", {"data.csv": b"a\\n"})
    result = mldock_container("train")
    result.assert_succeeded()
    assert json.loads(result.outputs["metrics"]["metrics.json"])["rows"] == 1
"""


@pytest.fixture
def engine_project(pytester: pytest.Pytester) -> Path:
    from mldock.engine import connect
    from mldock.errors import EngineError
    from mldock.image.base_image import ensure_base_image

    try:
        client = connect()
    except EngineError as exc:
        pytest.fail(f"these tests need a container engine: {exc}")
    ensure_base_image(BASE_IMAGE, client=client)
    return write_sample_project(
        pytester,
        folder="project",
        prod_dir=PROD_DIR,
        base_image=BASE_IMAGE,
        requirements="boto3\ngoogle-cloud-storage\n",
    )


@pytest.mark.parametrize("emulators", ["process", "container"], ids=["host-emulators", "emulator-containers"])
def test_docker_runner(pytester: pytest.Pytester, engine_project: Path, emulators: str) -> None:
    pytester.makepyfile(test_docker=DOCKER_TESTS)
    result = pytester.runpytest_subprocess(
        "--mldock-project=project", "--mldock-runner=docker", f"--mldock-emulators={emulators}", "-p", "no:randomly",
        timeout=900,
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_failure_report_from_the_image*",
            "E*AssertionError: expected the train lifecycle to succeed",
            "E*--- failure file ---",
            "E*column 'y' is missing from data.csv*",
            "E*about to fail; token is ***",
            "E*MLDOCK_API_TOKEN=***",
            "*- mldock container logs (docker train #1) -*",
        ]
    )
    assert SECRET not in result.stdout.str()
