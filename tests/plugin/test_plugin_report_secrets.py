"""No secret reaches a pytest report: a test whose container step prints its whole environment and raises with
its secrets in the message leaves none in the terminal report nor in JUnit XML, under both runners.

The secrets: a secret-named hyperparameter, a cloud credential variable, and a SAS signature inside a URI.
The first inner test fails through `assert_succeeded()`; the second prints them itself and puts them in its own
assertion message and locals (`--showlocals`): the plugin masks the secrets of every run a test started in the
test's whole report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"
HP_SECRET = "hp-tok-3b9e1c7a55"
AWS_SECRET = "aws-Zk9+q/2XvQ8wR1"
SAS_SECRET = "sas-c2lnbmF0dXJl-77"
SECRETS = (HP_SECRET, AWS_SECRET, SAS_SECRET)

TRAINER = """
import json
import os


def train(env):
    for name, value in sorted(os.environ.items()):
        print(f"{name}={value}", flush=True)
    print(repr(dict(os.environ)), flush=True)
    print(json.dumps(env.hyperparameters.to_dict()), flush=True)
    raise RuntimeError(
        f"cannot log in with {env.hyperparameters['api_token']!r}, {os.environ['AWS_SECRET_ACCESS_KEY']!r} "
        f"and {os.environ['AZURE_STORAGE_ACCOUNT_URL']}"
    )
"""

INNER_TESTS = f"""
HP = {HP_SECRET!r}
AWS = {AWS_SECRET!r}
SAS_URL = "https://acct.blob.core.windows.net/?sv=2024-01-01&sig=" + {SAS_SECRET!r}


def test_trains(mldock_container):
    extra = {{"AWS_SECRET_ACCESS_KEY": AWS, "AZURE_STORAGE_ACCOUNT_URL": SAS_URL}}
    result = mldock_container("train", hyperparameters={{"api_token": HP, "lr": 0.1}}, env=extra)
    result.assert_succeeded()


def test_own_message(mldock_container):
    extra = {{"AWS_SECRET_ACCESS_KEY": AWS, "AZURE_STORAGE_ACCOUNT_URL": SAS_URL}}  # shown by --showlocals
    result = mldock_container("train", hyperparameters={{"api_token": HP}}, env=extra)
    print("the token I used:", HP, "and", SAS_URL)
    assert result.succeeded, f"train with {{HP}} and {{AWS}} failed"
"""


@pytest.fixture
def leaky_project(pytester: pytest.Pytester) -> Path:
    root = pytester.path / "project"
    root.mkdir()
    config = {"name": "leaky", "base_image": BASE_IMAGE, "stages": {"test": {"hyperparameters": {"epochs": 1}}}}
    (root / "mldock.json").write_text(json.dumps(config))
    (root / "trainer.py").write_text(TRAINER.lstrip())
    (root / "requirements.txt").write_text("")
    return root


@pytest.mark.parametrize(
    "runner", [pytest.param("process", id="process"), pytest.param("docker", id="docker", marks=pytest.mark.engine)]
)
def test_no_secret_in_the_terminal_report_nor_junit(
    pytester: pytest.Pytester, leaky_project: Path, runner: str
) -> None:
    pytester.makepyfile(test_leaky=INNER_TESTS)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--mldock-project=project",
        f"--mldock-runner={runner}",
        "--mldock-stage=test",
        f"--junitxml={junit}",
        "-o",
        "junit_logging=all",  # captured output and the report's sections into the XML too
        "-rA",
        "--showlocals",
        "-p",
        "no:randomly",
        timeout=900,
    )
    result.assert_outcomes(failed=2)
    terminal = result.stdout.str() + result.stderr.str()
    xml = junit.read_text(encoding="utf-8")
    # the step did print its environment and raise: the report carries what it printed, masked
    assert "cannot log in with" in terminal
    assert "AZURE_STORAGE_ACCOUNT_URL=https://acct.blob.core.windows.net/?sv=2024-01-01&sig=***" in terminal
    assert "AWS_SECRET_ACCESS_KEY=***" in terminal
    assert "cannot log in with" in xml
    assert "train with *** and *** failed" in terminal
    assert "the token I used: *** and https://acct.blob.core.windows.net/?sv=2024-01-01&sig=***" in terminal
    assert "the token I used: *** and https://acct.blob.core.windows.net/?sv=2024-01-01&amp;sig=***" in xml
    for secret in SECRETS:
        assert secret not in terminal, f"{secret} in the terminal report"
        assert secret not in xml, f"{secret} in JUnit XML"
