"""The pytest plugin `mldock` (entry point `pytest11`): options, marker, hooks; the fixtures are imported here.

    pytest --mldock-stage=test --mldock-runner=process        # the defaults
    pytest --mldock-stage=prod                                  # production verification: no emulators

Nothing is started at import or configure time: emulators and runners start when a test first needs them.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_mldock.emulator_fixtures import (
    azure_blob_emulator,
    gcs_emulator,
    mldock_emulator_config,
    mldock_emulator_endpoints,
    mldock_emulator_network,
    s3_emulator,
)
from pytest_mldock.fixtures import (
    mldock_container,
    mldock_project,
    mldock_runner_pool,
    mldock_settings,
    mldock_stage,
    mldock_storage,
)
from pytest_mldock.options import MARKER_DOC, add_options, marker_settings, read_settings
from pytest_mldock.report import attach_sections
from pytest_mldock.state import STATE_KEY, PluginState, session_state

pytest_plugins = ["pytest_mldock.platform"]  # --mldock-platform and the platform-contract fixtures

__all__ = [
    "azure_blob_emulator",
    "gcs_emulator",
    "mldock_container",
    "mldock_emulator_config",
    "mldock_emulator_endpoints",
    "mldock_emulator_network",
    "mldock_project",
    "mldock_runner_pool",
    "mldock_settings",
    "mldock_stage",
    "mldock_storage",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_makereport",
    "pytest_sessionstart",
    "pytest_terminal_summary",
    "pytest_unconfigure",
    "s3_emulator",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    config.stash[STATE_KEY] = PluginState(settings=read_settings(config))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Check the project and the stage name once, before collection (a bad one is a usage error)."""
    session_state(session.config).check_project()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked for other stages, saying which stage they are for."""
    stage = session_state(config).settings.stage
    for item in items:
        marked = marker_settings(item)
        if marked.stages is not None and stage not in marked.stages:
            wanted = ", ".join(marked.stages)
            item.add_marker(pytest.mark.skip(reason=f"mldock: for stage {wanted}; this run is --mldock-stage={stage}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    attach_sections(item, report)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """With --mldock-keep: list what was kept running; in a terminal, wait for Enter before stopping it."""
    state = session_state(terminalreporter.config)
    if not state.kept and not state.deferred:
        return
    terminalreporter.section("mldock: kept running (--mldock-keep)")
    for emulator in state.kept:
        terminalreporter.write_line(f"{emulator.name} emulator: {emulator.endpoint}")
    if terminalreporter.isatty and _wait_for_enter("mldock: press Enter to stop them and end the session... "):
        terminalreporter.write_line("mldock: stopped")
    else:
        terminalreporter.write_line("mldock: not a terminal, so they stop now, with the session")
    state.finish()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop whatever --mldock-keep postponed and the summary did not (xdist workers, interrupted runs)."""
    if STATE_KEY in config.stash:
        config.stash[STATE_KEY].finish()


def _wait_for_enter(prompt: str) -> bool:
    """Ask on the controlling terminal (stdin is captured by pytest); False when there is none."""
    try:
        with open("/dev/tty", "r+", encoding="utf-8") as tty:
            tty.write(prompt)
            tty.flush()
            tty.readline()
    except OSError:
        return False
    return True
