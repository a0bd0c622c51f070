"""`result.metrics`: what the run reported with env.log_metric, read back under both runners (pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_project import write_sample_project

pytestmark = pytest.mark.integration

BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"
PROD_DIR = Path("/tmp/mldock-plugin-metrics-prod")
"""Fixed, so the docker project's content (hence its image tag) is the same on every run: built once, cached."""

TRAINER = """
from mldock import ChannelKind


def train(env):
    epochs = env.hyperparameters.get("epochs", int)
    if not env.hyperparameters.get("silent", bool, default=False):
        for step in range(1, epochs + 1):
            env.log_metric("loss", 1 / 2**step, step=step)
        env.log_metric("accuracy", 0.9)
        env.log_metric("val/loss", float("nan"), step=epochs)
    (env.channel("metrics", ChannelKind.OUTPUT).path / "done.txt").write_text("ok")
    (env.channel("model", ChannelKind.OUTPUT_MODEL).path / "model.json").write_text("{}")
"""

METRICS_TESTS = """
import math


def test_metrics_of_the_run(mldock_container):
    result = mldock_container("train", hyperparameters={"epochs": 3})
    result.assert_succeeded()
    assert [(m.step, m.value) for m in result.metrics if m.name == "loss"] == [(1, 0.5), (2, 0.25), (3, 0.125)]
    (accuracy,) = [m for m in result.metrics if m.name == "accuracy"]
    assert (accuracy.value, accuracy.step) == (0.9, None) and accuracy.timestamp > 0
    (validation,) = [m for m in result.metrics if m.name == "val/loss"]
    assert math.isnan(validation.value) and validation.step == 3
    assert [m.name for m in result.metrics] == ["loss", "loss", "loss", "accuracy", "val/loss"]


def test_a_run_that_reports_nothing(mldock_container):
    result = mldock_container("train", hyperparameters={"epochs": 2, "silent": True})
    result.assert_succeeded()
    assert result.metrics == []
"""


def _project(pytester: pytest.Pytester, base_image: str | None = None, requirements: str | None = None) -> Path:
    """The sample project (its stages, seeds and predictor) with a trainer that reports metrics."""
    root = write_sample_project(
        pytester, folder="project", prod_dir=PROD_DIR, base_image=base_image, requirements=requirements
    )
    (root / "trainer.py").write_text(TRAINER.lstrip())
    return root


def test_result_metrics_under_the_process_runner(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(test_metrics=METRICS_TESTS)
    result = pytester.runpytest("--mldock-project=project", "--mldock-runner=process", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


@pytest.mark.engine
def test_result_metrics_under_the_docker_runner(pytester: pytest.Pytester) -> None:
    from mldock.engine import connect
    from mldock.errors import EngineError
    from mldock.image.base_image import ensure_base_image

    try:
        client = connect()
    except EngineError as exc:
        pytest.fail(f"this test needs a container engine: {exc}")
    ensure_base_image(BASE_IMAGE, client=client)
    _project(pytester, base_image=BASE_IMAGE, requirements="boto3\ngoogle-cloud-storage\n")
    pytester.makepyfile(test_metrics=METRICS_TESTS)
    result = pytester.runpytest_subprocess(
        "--mldock-project=project", "--mldock-runner=docker", "-p", "no:randomly", timeout=900
    )
    result.assert_outcomes(passed=2)
