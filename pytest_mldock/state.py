"""The plugin's per-session state, kept in `config.stash`: settings, the project, what was started.

    state = session_state(request.config)
    state.settings.stage, state.project()
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from mldock.errors import ConfigError
from mldock.project.config import CONFIG_FILE, load_project
from pytest_mldock.options import Settings, check_stage

if TYPE_CHECKING:
    from mldock.emulators.base import Emulator
    from mldock.project.config import ProjectConfig

__all__ = ["STATE_KEY", "KeptEmulator", "PluginState", "session_state"]


@dataclass(frozen=True)
class KeptEmulator:
    """An emulator left running by --mldock-keep: where it answers, and how the plugin stops it at the end."""

    name: str
    endpoint: str
    stop: Callable[[], None]


@dataclass
class PluginState:
    """Settings plus what the session started (for --mldock-keep's summary and unique names)."""

    settings: Settings
    kept: list[KeptEmulator] = field(default_factory=list)
    deferred: list[Callable[[], None]] = field(default_factory=list)
    """Teardowns postponed by --mldock-keep to the very end of the session."""
    started: list[Emulator] = field(default_factory=list)
    buckets_per_test: Counter[str] = field(default_factory=Counter)
    _project: ProjectConfig | None = None

    def project(self) -> ProjectConfig:
        """The project (loaded once); fails the test with a plain message when there is none."""
        if self._project is None:
            self._project = load_session_project(self.settings, in_test=True)
        return self._project

    def finish(self) -> None:
        """Run every teardown --mldock-keep postponed (emulators first); idempotent."""
        kept, self.kept = self.kept, []
        deferred, self.deferred = self.deferred, []
        for stop in [k.stop for k in kept] + deferred:
            stop()

    def check_project(self) -> None:
        """Load the project now when there is one, raising pytest.UsageError for a bad file or stage."""
        if self.settings.project is not None and self._project is None:
            self._project = load_session_project(self.settings, in_test=False)

    def next_bucket_number(self, nodeid: str) -> int:
        """1, 2, ... per test id for the whole session, so reruns of one test never reuse a bucket."""
        self.buckets_per_test[nodeid] += 1
        return self.buckets_per_test[nodeid]


STATE_KEY = pytest.StashKey[PluginState]()


def session_state(config: pytest.Config) -> PluginState:
    """The state `pytest_configure` put in the stash."""
    return config.stash[STATE_KEY]


def load_session_project(settings: Settings, *, in_test: bool) -> ProjectConfig:
    """Load and check the project of `settings`: fails the test (`in_test`) or raises pytest.UsageError."""

    def report(message: str) -> None:
        if in_test:
            pytest.fail(message, pytrace=False)
        raise pytest.UsageError(message)

    if settings.project is None:
        report(
            f"mldock: no {CONFIG_FILE} at the rootdir; pass --mldock-project DIR (or ini mldock_project) "
            "to name the container project"
        )
        raise AssertionError("unreachable")
    try:
        project = load_project(settings.project)
    except ConfigError as exc:
        report(f"mldock: {exc}")
        raise AssertionError("unreachable") from exc
    try:
        check_stage(settings, project)
    except pytest.UsageError as exc:
        report(str(exc))
    return project
