"""Fixtures of the runner integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_project import write_project

from mldock.project.config import ProjectConfig


@pytest.fixture
def project(tmp_path: Path) -> ProjectConfig:
    """The demo project in a fresh folder (no requirements: the process runner uses this interpreter)."""
    return write_project(tmp_path / "project")
