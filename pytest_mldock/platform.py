"""The platform contract from pytest: `--mldock-platform=sagemaker|vertex|azureml` and the
`mldock_platform_contract` fixture.

    pytest --mldock-platform=sagemaker        # or vertex, azureml

    def test_sagemaker_training(mldock_platform_contract):
        report = mldock_platform_contract("train")          # the project's built image, run as SageMaker does
        assert report.passed, report.table()

    def test_sagemaker_hosting(mldock_platform_contract):
        mldock_platform_contract.check("serve")              # fails the test with the table and the log tail

The fixture runs mldock.harness.run_contract on the session's project (`mldock_project`) with the stage of
`--mldock-stage` (its seeds and hyperparameters): the same content-hash image `--mldock-runner docker` tests,
built only when missing. Reports are cached per arguments for the session, so several tests share one run.
Without `--mldock-platform` a test that asks for the fixture is skipped and says how to run it: checking a
platform is opt-in (it needs a container engine and minutes).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mldock.state import session_state

if TYPE_CHECKING:
    from mldock.harness import ContractReport
    from mldock.project.config import ProjectConfig

__all__ = ["PLATFORM_OPTION", "PlatformContract", "mldock_platform", "mldock_platform_contract", "pytest_addoption"]

PLATFORM_OPTION = "--mldock-platform"
_PLATFORMS = ("sagemaker", "vertex", "azureml")  # mldock.harness.PLATFORMS (a test checks they agree)
_LOG_TAIL = 40


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mldock")
    group.addoption(
        PLATFORM_OPTION,
        dest="mldock_platform",
        choices=_PLATFORMS,
        default=None,
        help="Check the project's built image against this platform's container contract (mldock_platform_contract).",
    )


class PlatformContract:
    """Runs (once per arguments) and checks the platform contract of the session's project.

    contract("train"), contract("serve", model_project=other), contract.check("train", stop=True)
    """

    def __init__(self, platform: str, project: ProjectConfig, stage: str) -> None:
        self.platform, self.project, self.stage = platform, project, stage
        self._reports: dict[tuple[Any, ...], ContractReport] = {}

    def __call__(
        self,
        task: str,
        *,
        model: Path | None = None,
        model_project: ProjectConfig | None = None,
        payload: Path | None = None,
        stop: bool = False,
    ) -> ContractReport:
        """The report of `task`'s contract run (run now, or the session's earlier run with the same arguments)."""
        from mldock.harness import run_contract  # heavy (image builder, engine): only when a contract runs

        key = (task, model, model_project.root if model_project else None, payload, stop)
        if key not in self._reports:
            self._reports[key] = run_contract(
                self.project,
                "train" if task == "train" else "serve",
                platform=self.platform,
                stage=self.stage,
                model=model,
                model_project=model_project,
                payload=payload,
                stop=stop,
            )
        return self._reports[key]

    def check(self, task: str, **kwargs: Any) -> ContractReport:
        """As calling it, and fail the test with the table and the container log's tail when an item failed."""
        report = self(task, **kwargs)
        if not report.passed:
            tail = "\n".join(report.logs.rstrip().splitlines()[-_LOG_TAIL:])
            pytest.fail(f"{report.table()}\n\n--- container log (tail) ---\n{tail}", pytrace=False)
        return report


@pytest.fixture(scope="session")
def mldock_platform(pytestconfig: pytest.Config) -> str | None:
    """The platform `--mldock-platform` names, or None."""
    value: str | None = pytestconfig.getoption("mldock_platform", default=None)
    return value


@pytest.fixture(scope="session")
def mldock_platform_contract(pytestconfig: pytest.Config, mldock_platform: str | None) -> PlatformContract:
    """Runs the platform contract of the session's project; skipped without `--mldock-platform`."""
    if mldock_platform is None:
        pytest.skip(f"the platform contract runs with {PLATFORM_OPTION}=sagemaker (or vertex, azureml)")
    state = session_state(pytestconfig)
    return PlatformContract(mldock_platform, state.project(), state.settings.stage)
