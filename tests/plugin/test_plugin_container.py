"""`mldock_container` with the process runner: success and outputs, the report of a failing lifecycle,
serving, and stage environment/hyperparameters reaching the task."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_project import SECRET

pytestmark = pytest.mark.integration

LIFECYCLE_TESTS = """
import json


def test_trains_on_the_seeded_stage_channels(mldock_container, mldock_storage):
    result = mldock_container("train")
    result.assert_succeeded()
    assert result.exit_code == 0 and result.failure is None
    assert "trained 3 epochs on 3 rows" in result.logs
    assert "cleanup step of stage test" in result.logs
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert metrics == {"rows": 3, "epochs": 3, "stage": "test", "greeting": "hello",
                       "hyperparameters": {"epochs": 3}}
    assert json.loads(result.models["model"]["model.json"]) == {"scale": 3}
    env = mldock_storage.run_environment()
    assert env["MLDOCK_INPUT_CHANNEL_TRAIN"].startswith("s3://t-main-")
    assert env["MLDOCK_OUTPUT_CHANNEL_METRICS"].startswith("gs://t-main-")
    assert result.environment["MLDOCK_API_TOKEN"] == "***"
    assert result.environment["MLDOCK_GREETING"] == "hello"


def test_explicit_channels_hyperparameters_and_env_win(mldock_container, mldock_storage):
    mldock_storage.input("train", {"data.csv": b"a\\nb\\nc\\nd\\ne\\n"}, scheme="az")
    mldock_storage.output("metrics", scheme="file")
    result = mldock_container("train", hyperparameters={"epochs": 7, "lr": 0.5}, env={"MLDOCK_GREETING": "hej"},
                              timeout=120)
    result.assert_succeeded()
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert (metrics["rows"], metrics["epochs"], metrics["greeting"]) == (5, 7, "hej")
    assert metrics["hyperparameters"] == {"epochs": 7, "lr": 0.5}
    assert [e.name for e in mldock_storage.emulators] == ["azure", "s3"]


def test_expected_failure(mldock_container, mldock_storage):
    mldock_storage.input("train", {"data.csv": b"BAD\\n"})
    result = mldock_container("train")
    result.assert_failed(match="column 'y' is missing")
    assert result.exit_code == 1
    assert result.failure_reason and "column 'y' is missing" in result.failure_reason


def test_serving(mldock_container):
    with mldock_container.serve(hyperparameters={"scale": 10}) as endpoint:
        response = endpoint.invoke(b'{"rows": [[1, 2], [3, 4]]}', "application/json")
        assert response.status == 200
        assert response.json() == {"predictions": [30.0, 70.0]}
"""

FAILING_REPORT_TEST = """
def test_reports_a_failed_lifecycle(mldock_container, mldock_storage):
    mldock_storage.input("train", {"data.csv": b"BAD\\n"})
    mldock_container("train").assert_succeeded()

def test_wrong_expectation_of_failure(mldock_container):
    mldock_container("train").assert_failed()
"""


def test_lifecycle_through_the_fixtures(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(test_lifecycle=LIFECYCLE_TESTS)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_failing_lifecycle_report(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(test_report=FAILING_REPORT_TEST)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_reports_a_failed_lifecycle*",
            "E*AssertionError: expected the train lifecycle to succeed",
            "E*train exit code 1 after *s",
            "E*--- failure file ---",
            "E*column 'y' is missing from data.csv*",
            "E*--- logs (tail) ---",
            "E*about to fail; token is ***",
            "E*--- environment ---",
            "E*MLDOCK_API_TOKEN=***",
            "E*MLDOCK_INPUT_CHANNEL_TRAIN=s3://t-main-*/train",
            "*- mldock container logs (process train #1) -*",
            "*about to fail; token is ***",
            "*test_wrong_expectation_of_failure*",
            "E*AssertionError: expected the train lifecycle to fail",
            "E*train exit code 0 after *s",
        ]
    )
    assert SECRET not in result.stdout.str()
    assert SECRET not in result.stderr.str()


def test_logs_are_attached_to_passing_reports_too(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makepyfile(
        test_pass="""
        def test_twice(mldock_container):
            mldock_container("train").assert_succeeded()
            mldock_container("train", hyperparameters={"epochs": 1}).assert_succeeded()
            with mldock_container.serve() as endpoint:
                assert endpoint.invoke(b'{"rows": [[2]]}', "application/json").json() == {"predictions": [4.0]}
        """
    )
    result = pytester.runpytest("-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- mldock container logs (process train #1) -*",
            "*trained 3 epochs on 3 rows",
            "*- mldock container logs (process train #2) -*",
            "*trained 1 epochs on 3 rows",
            "*- mldock container logs (process serve #3) -*",
            "*predictor:Predictor is ready",
        ]
    )
