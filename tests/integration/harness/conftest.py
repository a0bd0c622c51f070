"""Fixtures of the harness tests: the engine, and each project's image built once for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from harness_project import write_project

from mldock.project.config import ProjectConfig

if TYPE_CHECKING:
    import docker


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """A client for the engine; a failure (not a skip) when none answers: these tests are about the engine."""
    from mldock.engine import connect  # docker-py: only the engine tests load it
    from mldock.errors import EngineError

    try:
        client = connect()
    except EngineError as exc:
        pytest.fail(f"these tests need a container engine: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def pinned_sources() -> Iterator[str]:
    """Pin the mldock source hash for the session: one build per project, even while colleagues edit the checkout."""
    import mldock.image.builder as image_module
    from mldock.image.wheelhouse import mldock_source_hash

    pinned = mldock_source_hash()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(image_module, "mldock_source_hash", lambda: pinned)
        yield pinned


@pytest.fixture(scope="session")
def harness_project(tmp_path_factory: pytest.TempPathFactory) -> ProjectConfig:
    return write_project(tmp_path_factory.mktemp("harness") / "project")


@pytest.fixture(scope="session")
def harness_image(engine: docker.DockerClient, harness_project: ProjectConfig, pinned_sources: str) -> str:
    """The tiny project's image tag, built once."""
    from mldock.harness import image_under_test

    return image_under_test(harness_project, engine).tag


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
