"""The platform-contract harness: a project's built image started the way a platform starts it, judged item by
item with evidence (`mldock contract`, and `pytest --mldock-platform` through pytest_mldock.platform).

    from mldock.harness import run_contract
    report = run_contract(load_project("."), "train", platform="sagemaker")
    print(report.table()); raise SystemExit(0 if report.passed else 1)

Tooling: it talks to the engine (mldock.engine) and never runs inside a container. The platform contracts,
item by item, are in docs/platforms.md.
"""

from __future__ import annotations

from mldock.harness.report import ContractItem, ContractReport
from mldock.harness.run import PLATFORMS, TASKS, ImageUnderTest, image_under_test, run_contract, sample_payload
from mldock.harness.sagemaker import SageMakerHarness, ServingRun, TrainingJob, TrainingRun

__all__ = [
    "PLATFORMS",
    "TASKS",
    "ContractItem",
    "ContractReport",
    "ImageUnderTest",
    "SageMakerHarness",
    "ServingRun",
    "TrainingJob",
    "TrainingRun",
    "image_under_test",
    "run_contract",
    "sample_payload",
]
