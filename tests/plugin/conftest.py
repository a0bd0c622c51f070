"""Fixtures of the plugin tests: the sample project in pytester's folder, and the real tool cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sample_project import write_sample_project

_REAL_CACHE = os.environ.get("MLDOCK_CACHE_DIR") or str(Path.home() / ".cache" / "mldock")


@pytest.fixture(autouse=True)
def _real_tool_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytester points HOME at its temporary folder: keep finding Azurite (and the wheelhouse) in the real cache."""
    monkeypatch.setenv("MLDOCK_CACHE_DIR", _REAL_CACHE)


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs are their own sessions: when this suite runs under `-n`, they must not look like a worker."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sample_project(pytester: pytest.Pytester) -> Path:
    """The sample project written into pytester's folder (the inner run's rootdir)."""
    return write_sample_project(pytester)
