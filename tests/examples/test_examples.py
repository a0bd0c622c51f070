"""The examples' own plugin tests, run from the main suite: each example as its own pytest session (its
mldock.json at the rootdir), with the process runner, and the main example once on the docker runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.integration


def _pytest_in(example: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=EXAMPLES / example,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


@pytest.mark.parametrize(("example", "count"), [("sklearn-train", 6), ("sklearn-serve", 7)])
def test_example_passes_with_the_process_runner(example: str, count: int) -> None:
    result = _pytest_in(example, "--mldock-runner=process")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert f"{count} passed" in result.stdout


@pytest.mark.engine
def test_the_training_example_passes_on_the_docker_runner() -> None:
    socket_path = Path("/run/mldock/podman.sock")
    env = {"DOCKER_HOST": f"unix://{socket_path}"} if "DOCKER_HOST" not in os.environ and socket_path.exists() else {}
    result = _pytest_in("sklearn-train", "--mldock-runner=docker", env=env)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "6 passed" in result.stdout
