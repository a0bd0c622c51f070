"""The project fixtures: `mldock_project`, `mldock_stage`, `mldock_storage`, `mldock_container`.

    def test_trains(mldock_stage, mldock_storage, mldock_container):
        ...

The emulator fixtures live in `pytest_mldock.emulator_fixtures`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mldock.container import MldockContainer, RunnerPool
from pytest_mldock.options import Settings, for_item, marker_settings
from pytest_mldock.state import session_state
from pytest_mldock.storage import MldockStorage

if TYPE_CHECKING:
    from mldock.project.config import ProjectConfig, StageConfig

__all__ = [
    "mldock_container",
    "mldock_project",
    "mldock_runner_pool",
    "mldock_settings",
    "mldock_stage",
    "mldock_storage",
]


@pytest.fixture(scope="session")
def mldock_settings(pytestconfig: pytest.Config) -> Settings:
    """The session's settings: stage, runner, project folder, emulator mode, keep."""
    return session_state(pytestconfig).settings


@pytest.fixture(scope="session")
def mldock_project(pytestconfig: pytest.Config) -> ProjectConfig:
    """The container project (`mldock.json` at the rootdir, or --mldock-project)."""
    return session_state(pytestconfig).project()


@pytest.fixture(scope="session")
def mldock_stage(mldock_project: ProjectConfig, mldock_settings: Settings) -> StageConfig:
    """The stage selected by --mldock-stage (default `test`): name, production flag, environment, hyperparameters."""
    return mldock_project.stage(mldock_settings.stage)


@pytest.fixture(scope="session")
def mldock_runner_pool(request: pytest.FixtureRequest, mldock_settings: Settings) -> Iterator[RunnerPool]:
    """The session's runners (one per kind, made on first use); their base dirs go at the end of the session."""
    pool = RunnerPool()
    yield pool
    if mldock_settings.keep:
        session_state(request.config).deferred.append(pool.close)
    else:
        pool.close()


@pytest.fixture
def mldock_storage(
    request: pytest.FixtureRequest, mldock_stage: StageConfig, tmp_path: Path
) -> Iterator[MldockStorage]:
    """This test's channels on fresh buckets: `.input(name, source)`, `.output(name)`, `.read(uri)`."""
    storage = MldockStorage(request, mldock_stage, tmp_path)
    yield storage
    storage.close()


@pytest.fixture
def mldock_container(
    request: pytest.FixtureRequest,
    mldock_project: ProjectConfig,
    mldock_stage: StageConfig,
    mldock_storage: MldockStorage,
    mldock_settings: Settings,
    mldock_runner_pool: RunnerPool,
) -> MldockContainer:
    """Runs the project's container: `mldock_container("train", ...)`, `with mldock_container.serve() as ep:`."""
    settings = for_item(mldock_settings, request.node)
    return MldockContainer(
        item=request.node,
        project=mldock_project,
        stage=mldock_stage,
        storage=mldock_storage,
        runner=settings.runner,
        pool=mldock_runner_pool,
        pass_env=settings.pass_env,
        resources=marker_settings(request.node).resources or {},
    )
