"""The platform contract from pytest: `--mldock-platform=sagemaker|vertex|azureml` and the mldock_platform_contract
fixture."""

from __future__ import annotations

import pytest

from mldock.project.config import ProjectConfig

pytestmark = [pytest.mark.integration, pytest.mark.engine]

TESTS = """
def test_training(mldock_platform_contract):
    report = mldock_platform_contract.check("train")
    assert {item.name for item in report.items} >= {"train.exit", "train.model-packed"}

def test_hosting(mldock_platform_contract):
    report = mldock_platform_contract("serve")
    assert report.passed, report.table()

def test_the_same_run_is_shared(mldock_platform_contract):
    assert mldock_platform_contract("train") is mldock_platform_contract("train")
"""


def test_the_fixture_runs_the_contract_with_the_option(
    pytester: pytest.Pytester, harness_project: ProjectConfig, harness_image: str
) -> None:
    pytester.makepyfile(test_platform=TESTS)
    result = pytester.runpytest_subprocess(
        f"--mldock-project={harness_project.root}", "--mldock-platform=sagemaker", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)


TRAINING_ON = """
def test_training(mldock_platform_contract):
    report = mldock_platform_contract.check("train")
    assert report.platform == "{platform}"
    assert "MLDOCK_" not in report.started_as
"""


@pytest.mark.parametrize("platform", ["vertex", "azureml"], ids=["vertex", "azureml"])
def test_the_option_runs_vertex_ai_and_azure_ml_too(
    pytester: pytest.Pytester, harness_project: ProjectConfig, harness_image: str, platform: str
) -> None:
    pytester.makepyfile(test_platform=TRAINING_ON.format(platform=platform))
    result = pytester.runpytest_subprocess(
        f"--mldock-project={harness_project.root}", f"--mldock-platform={platform}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)


def test_without_the_option_the_fixture_skips_and_says_how_to_run_it(
    pytester: pytest.Pytester, harness_project: ProjectConfig
) -> None:
    pytester.makepyfile(test_platform=TESTS)
    result = pytester.runpytest_subprocess(f"--mldock-project={harness_project.root}", "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*--mldock-platform=sagemaker*"])


def test_an_unknown_platform_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--mldock-platform=heroku")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mldock-platform*invalid choice*heroku*"])
