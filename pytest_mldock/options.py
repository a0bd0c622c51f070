"""The plugin's settings: command-line options and ini keys, read once and checked, plus per-test markers.

    pytest --mldock-stage=test --mldock-runner=docker         # or in pytest.ini / pyproject.toml:
    [tool.pytest.ini_options]
    mldock_stage = "test"
    mldock_runner = "docker"

A command-line option wins over its ini key, which wins over the default. Bad values raise
`pytest.UsageError` naming the allowed ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import pytest

from mldock.contract import IMPLICIT_STAGES, is_stage_name, is_truthy
from mldock.errors import UserError

if TYPE_CHECKING:
    from mldock.project.config import ProjectConfig

__all__ = [
    "DEFAULT_EMULATORS",
    "DEFAULT_RUNNER",
    "DEFAULT_STAGE",
    "EMULATOR_MODES",
    "MARKER",
    "MARKER_DOC",
    "RUNNERS",
    "EmulatorMode",
    "MarkerSettings",
    "RunnerName",
    "Settings",
    "add_options",
    "check_stage",
    "for_item",
    "marker_settings",
    "read_settings",
]

RunnerName = Literal["process", "docker"]
EmulatorMode = Literal["process", "container", "external"]

RUNNERS: tuple[RunnerName, ...] = ("process", "docker")
EMULATOR_MODES: tuple[EmulatorMode, ...] = ("process", "container", "external")
DEFAULT_STAGE = "test"
DEFAULT_RUNNER: RunnerName = "process"
DEFAULT_EMULATORS: EmulatorMode = "process"
MARKER = "mldock"
MARKER_DOC = (
    "mldock(stage=None, runner=None, pass_env=None, resources=None): stage: the stage name (or list of names) "
    "this test is for; "
    "it is skipped under any other --mldock-stage. runner: 'process' or 'docker', overriding --mldock-runner "
    "for this test. pass_env: host variable names (or PREFIX*) this test's container gets besides the cloud "
    "SDKs' own, added to --mldock-pass-env / mldock_pass_env. resources: a dict of gpus, shm_size, cpus, memory, "
    "platform for the docker runner's container (over mldock.json's). The closest marker wins (function over "
    "class over module)."
)

_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Settings:
    """What the session runs with: stage, runner, project, emulator mode, keep."""

    stage: str = DEFAULT_STAGE
    runner: RunnerName = DEFAULT_RUNNER
    project: Path | None = None
    """The folder with `mldock.json`; None when none was given and the rootdir has none."""
    emulators: EmulatorMode = DEFAULT_EMULATORS
    keep: bool = False
    project_given: bool = False
    """True when --mldock-project or the ini key named the project (a missing file is then an error)."""
    pass_env: tuple[str, ...] = ()
    """Host variables every container gets besides the cloud SDKs' own (mldock.runners.host_environment)."""


@dataclass(frozen=True)
class MarkerSettings:
    """What the closest `@pytest.mark.mldock(...)` says for one test."""

    stages: tuple[str, ...] | None = None
    runner: RunnerName | None = None
    pass_env: tuple[str, ...] = ()
    resources: Mapping[str, Any] | None = None


def add_options(parser: pytest.Parser) -> None:
    """Register the `mldock` option group and the matching ini keys."""
    group = parser.getgroup("mldock", "mldock: test ML containers against emulated or real cloud storage")
    group.addoption(
        "--mldock-stage",
        dest="mldock_stage",
        metavar="STAGE",
        help=f"stage of mldock.json to run under (ini: mldock_stage; default {DEFAULT_STAGE})",
    )
    group.addoption(
        "--mldock-runner",
        dest="mldock_runner",
        metavar="|".join(RUNNERS),
        help=f"run the container with docker or as a local process (ini: mldock_runner; default {DEFAULT_RUNNER})",
    )
    group.addoption(
        "--mldock-project",
        dest="mldock_project",
        metavar="DIR",
        help="folder holding mldock.json (ini: mldock_project; default: the rootdir, else the current folder)",
    )
    group.addoption(
        "--mldock-emulators",
        dest="mldock_emulators",
        metavar="|".join(EMULATOR_MODES),
        help="run emulators as host processes or containers, or use the ones you run (external: from "
        f"AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST, ...) (ini: mldock_emulators; default {DEFAULT_EMULATORS})",
    )
    group.addoption(
        "--mldock-keep",
        dest="mldock_keep",
        action="store_true",
        default=None,
        help="leave emulators and containers running after the session, for debugging (ini: mldock_keep)",
    )
    group.addoption(
        "--mldock-pass-env",
        dest="mldock_pass_env",
        action="append",
        default=None,
        metavar="NAME",
        help="pass the host's variable NAME (or every NAME* with a trailing '*') to the container, besides the "
        "cloud SDKs' own variables, which always pass when set; repeatable (ini: mldock_pass_env, one per line)",
    )
    parser.addini("mldock_stage", help="default for --mldock-stage", default="")
    parser.addini("mldock_runner", help="default for --mldock-runner", default="")
    parser.addini("mldock_project", help="default for --mldock-project (relative to the ini file)", default="")
    parser.addini("mldock_emulators", help="default for --mldock-emulators", default="")
    parser.addini("mldock_emulator_endpoints", type="linelist", help="external emulators: NAME=URL lines", default=[])
    parser.addini("mldock_keep", help="default for --mldock-keep (true/false)", default="false")
    parser.addini("mldock_pass_env", type="linelist", help="added to --mldock-pass-env (one name per line)", default=[])


def read_settings(config: pytest.Config) -> Settings:
    """Settings from the command line, then ini keys, then defaults; raises pytest.UsageError on bad values."""
    runner = _choice(config, "mldock_runner", RUNNERS, DEFAULT_RUNNER)
    emulators = _choice(config, "mldock_emulators", EMULATOR_MODES, DEFAULT_EMULATORS)
    stage = _value(config, "mldock_stage")[0] or DEFAULT_STAGE
    if not is_stage_name(stage):
        raise pytest.UsageError(
            f"--mldock-stage / mldock_stage: {stage!r} is not a stage name (lower-case letters, digits, '_' "
            "or '-', starting with a letter)"
        )
    keep = _keep(config)
    pass_env = _pass_env(config)
    project, given = _project_dir(config)
    settings = Settings(
        stage=stage,
        runner=cast(RunnerName, runner),
        project=project,
        emulators=cast(EmulatorMode, emulators),
        keep=keep,
        project_given=given,
        pass_env=pass_env,
    )
    return settings


def check_stage(settings: Settings, project: ProjectConfig) -> None:
    """Raise pytest.UsageError when the project has no stage called `settings.stage`, listing the stages."""
    if settings.stage in project.stages or settings.stage in IMPLICIT_STAGES:
        return
    allowed = ", ".join(sorted({*project.stages, *IMPLICIT_STAGES}))
    raise pytest.UsageError(
        f"--mldock-stage / mldock_stage: {project.config_file} has no stage {settings.stage!r}; "
        f"allowed: {allowed}"
    )


def marker_settings(item: pytest.Item) -> MarkerSettings:
    """The closest value of each `mldock` marker argument for `item`; pytest.UsageError on a bad marker."""
    stages: tuple[str, ...] | None = None
    runner: str | None = None
    pass_env: tuple[str, ...] | None = None
    resources: Mapping[str, Any] | None = None
    for mark in item.iter_markers(MARKER):  # closest first
        if mark.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.mldock takes keyword arguments only (stage=..., runner=..., "
                "pass_env=..., resources=...)"
            )
        unknown = sorted(set(mark.kwargs) - {"stage", "runner", "pass_env", "resources"})
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.mldock got unknown argument(s) {', '.join(unknown)}; "
                "allowed: stage, runner, pass_env, resources"
            )
        if pass_env is None and "pass_env" in mark.kwargs:
            pass_env = _marker_pass_env(item, mark.kwargs["pass_env"])
        if resources is None and "resources" in mark.kwargs:
            resources = _marker_resources(item, mark.kwargs["resources"])
        if stages is None and "stage" in mark.kwargs:
            stages = _marker_stages(item, mark.kwargs["stage"])
        if runner is None and "runner" in mark.kwargs:
            runner = mark.kwargs["runner"]
            if runner not in RUNNERS:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.mldock(runner={runner!r}); allowed: {', '.join(RUNNERS)}"
                )
    return MarkerSettings(
        stages=stages, runner=cast("RunnerName | None", runner), pass_env=pass_env or (), resources=resources
    )


def for_item(settings: Settings, item: pytest.Item) -> Settings:
    """The session settings with the test's marker applied: its runner, and its pass_env added."""
    marked = marker_settings(item)
    runner = marked.runner or settings.runner
    return replace(settings, runner=runner, pass_env=(*settings.pass_env, *marked.pass_env))


def _marker_resources(item: pytest.Item, value: object) -> Mapping[str, Any]:
    from mldock.runners.resources import parse_resources  # lazy: the plugin loads no runner until a test runs one

    if not isinstance(value, Mapping):
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.mldock(resources={value!r}) must be a dict")
    try:
        parse_resources(value, "resources")
    except UserError as exc:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.mldock({exc})") from None
    return dict(value)


def _marker_pass_env(item: pytest.Item, value: object) -> tuple[str, ...]:
    from mldock.runners.host_environment import check_pass_env  # lazy: as in _marker_resources

    names = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) else None
    try:
        if names is None:
            raise UserError(f"{value!r} is not a variable name or a list of them")
        return check_pass_env(names, "pass_env")
    except UserError as exc:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.mldock({exc})") from None


def _pass_env(config: pytest.Config) -> tuple[str, ...]:
    given = [*(config.getini("mldock_pass_env") or []), *(config.getoption("mldock_pass_env", default=None) or [])]
    if not given:
        return ()
    from mldock.runners.host_environment import check_pass_env  # lazy: as in _marker_resources

    try:
        return check_pass_env([name.strip() for name in given if name.strip()], "--mldock-pass-env / mldock_pass_env")
    except UserError as exc:
        raise pytest.UsageError(str(exc)) from None


def _marker_stages(item: pytest.Item, value: object) -> tuple[str, ...]:
    names: Iterable[object] = (value,) if isinstance(value, str) else value if isinstance(value, (list, tuple)) else ()
    result = tuple(str(n) for n in names)
    if not result or any(not isinstance(n, str) or not is_stage_name(n) for n in names):
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.mldock(stage={value!r}) must be a stage name or a list of stage names"
        )
    return result


def _value(config: pytest.Config, name: str) -> tuple[str, str]:
    """(value, where it came from) for option/ini `name`; value "" when neither is set."""
    option = config.getoption(name, default=None)
    if option not in (None, ""):
        return str(option), f"--{name.replace('_', '-')}"
    ini = config.getini(name)
    text = ini if isinstance(ini, str) else ""
    return text.strip(), f"ini {name}"


def _choice(config: pytest.Config, name: str, allowed: tuple[str, ...], default: str) -> str:
    value, where = _value(config, name)
    if not value:
        return default
    if value not in allowed:
        raise pytest.UsageError(f"{where}: {value!r} is not allowed; choose one of: {', '.join(allowed)}")
    return value


def _keep(config: pytest.Config) -> bool:
    if config.getoption("mldock_keep", default=None):
        return True
    raw = config.getini("mldock_keep")
    text = (raw if isinstance(raw, str) else "").strip().lower()
    if is_truthy(text):
        return True
    if text in _FALSE:
        return False
    raise pytest.UsageError(f"ini mldock_keep: {text!r} is not allowed; choose one of: true, false")


def _project_dir(config: pytest.Config) -> tuple[Path | None, bool]:
    option = config.getoption("mldock_project", default=None)
    if option:
        return (config.invocation_params.dir / option).resolve(), True
    raw = config.getini("mldock_project")
    ini = raw.strip() if isinstance(raw, str) else ""
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / ini).resolve(), True
    for folder in (config.rootpath, config.invocation_params.dir):
        if (folder / "mldock.json").is_file():
            return folder, False
    return None, False
