"""Helpers for the CLI tests: `mldock` run as a real process, its exit code and output checked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
LOCAL_BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"

Mldock = Callable[..., subprocess.CompletedProcess[str]]


def run_mldock(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m mldock.cli.main ARGS` (the console script's code) as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "mldock.cli.main", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def mldock(tmp_path: Path) -> Mldock:
    """Run mldock in `tmp_path` (unless cwd= says otherwise)."""

    def call(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 600) -> Any:
        return run_mldock(*args, cwd=cwd or tmp_path, env=env, timeout=timeout)

    return call


def assert_plain_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """A user-facing error: the exit code, the fragments on stderr, no traceback anywhere."""
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == code, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    for fragment in fragments:
        assert fragment in result.stderr, shown
