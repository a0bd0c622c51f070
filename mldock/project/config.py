"""`mldock.json`: load, validate against the published JSON Schema, and expose as frozen values.

    project = load_project(Path("my-project"))      # the folder or the file itself
    stage = project.stage("test")
    stage.environment["MLDOCK_INPUT_CHANNEL_TRAIN"]   # keys carry the MLDOCK_ prefix

Parsing is total: any text gives a ProjectConfig or a ConfigError (a user error, exit 2 in the CLI) naming the
field (`stages.test.environment.INPUT_CHANNEL_TRAIN`), never another exception. Besides the schema:
- a leading UTF-8 BOM is ignored (as in hyperparameters files: mldock.runtime.hyperparameters);
- refused wherever they stand: NaN, Infinity and numbers a float cannot hold (`1e999`), integers beyond 64 bits,
  a key written twice in one object, NUL characters and text that is not valid Unicode (a lone surrogate),
  values nested more than MAX_DEPTH arrays/objects deep;
- `requirements` names a file inside the project folder (relative, no way out through `..` or a link);
- every channel variable of a stage's `environment` is parsed as the runtime parses it (mldock.runtime.channels:
  the channel name, the URI, the cloud's bucket naming rules, no credentials in the URI; the message names the
  variable and masks the credentials); a value without a scheme is left to the platform environments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mldock.contract import (
    DEFAULT_SERVE_TARGET,
    DEFAULT_TRAIN_TARGET,
    IMPLICIT_STAGES,
    PREFIX,
    STAGE,
    STAGE_NAME_PATTERN,
    STAGE_NAME_RULE,
)
from mldock.errors import ChannelError, ConfigError, InvalidURIError
from mldock.runtime.channels import OPTIONAL_CHANNELS, SERVE_CHANNELS, is_channel_variable, parse_channels
from mldock.runtime.hyperparameters import MAX_DEPTH
from mldock.storage.uri import parse_uri

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_BASE_IMAGE",
    "PLATFORMS",
    "ProjectConfig",
    "StageConfig",
    "load_project",
    "parse_config",
    "schema",
]

CONFIG_FILE = "mldock.json"
PLATFORMS: tuple[str, ...] = ("sagemaker", "vertex", "azureml", "kubernetes")
"""The values of mldock.json's `platforms` (its default: every one)."""
DEFAULT_BASE_IMAGE = "docker.io/library/python:3.11-slim"


@dataclass(frozen=True)
class StageConfig:
    """One stage of a project: the variables and hyperparameters its container gets."""

    name: str
    production: bool = False
    description: str = ""
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    hyperparameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    seed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    optional_channels: tuple[str, ...] = ()
    """Input and input-model channels that may be empty: startup() then gives an empty folder and a log line."""
    serve_channels: tuple[str, ...] | None = None
    """The input and input-model channels serving downloads (None: the input-model ones)."""
    resources: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """GPUs, shared memory, CPUs, memory, platform for this stage's containers, over the project's
    (mldock.runners.resources)."""
    platforms: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    """Per-engine settings for `mldock submit` (sagemaker, vertex, azureml, kubernetes), as written."""

    def to_dict(self) -> dict[str, Any]:
        """This stage as written in `mldock.json` (environment keys with their MLDOCK_ prefix)."""
        data: dict[str, Any] = {}
        if self.description:
            data["description"] = self.description
        data["production"] = self.production
        data["environment"] = dict(self.environment)
        data["hyperparameters"] = dict(self.hyperparameters)
        if self.seed:
            data["seed"] = dict(self.seed)
        if self.optional_channels:
            data["optional_channels"] = list(self.optional_channels)
        if self.serve_channels is not None:
            data["serve_channels"] = list(self.serve_channels)
        if self.resources:
            data["resources"] = dict(self.resources)
        if self.platforms:
            data["platforms"] = {name: dict(settings) for name, settings in self.platforms.items()}
        return data

    def container_environment(self) -> dict[str, str]:
        """The variables a container of this stage gets: the stage's environment plus MLDOCK_STAGE (and
        MLDOCK_OPTIONAL_CHANNELS / MLDOCK_SERVE_CHANNELS for its optional and serving channels, unless the
        environment sets them itself)."""
        variables = {**self.environment, STAGE: self.name}
        if self.optional_channels:
            variables.setdefault(OPTIONAL_CHANNELS, ",".join(self.optional_channels))
        if self.serve_channels is not None:
            variables.setdefault(SERVE_CHANNELS, ",".join(self.serve_channels))
        return variables


@dataclass(frozen=True)
class ProjectConfig:
    """A container project: its folder and what its `mldock.json` says."""

    root: Path
    name: str
    base_image: str = DEFAULT_BASE_IMAGE
    requirements: str = "requirements.txt"
    train: str = DEFAULT_TRAIN_TARGET
    serve: str = DEFAULT_SERVE_TARGET
    description: str = ""
    stages: Mapping[str, StageConfig] = field(default_factory=lambda: MappingProxyType({}))
    pass_env: tuple[str, ...] = ()
    """Host variables every task gets besides the cloud SDKs' own (mldock.runners.host_environment)."""
    resources: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """GPUs, shared memory, CPUs, memory, platform for the docker runner's containers (mldock.runners.resources)."""
    platforms: tuple[str, ...] = PLATFORMS
    """The platforms the image is meant for (default: all); the build adds the cloud SDK each one needs to
    reach its storage (mldock.image.wheelhouse.platform_requirements)."""

    def to_dict(self) -> dict[str, Any]:
        """The `mldock.json` content this config stands for (parsing it again gives an equal config)."""
        data: dict[str, Any] = {
            "name": self.name,
            "base_image": self.base_image,
            "requirements": self.requirements,
            "train": self.train,
            "serve": self.serve,
        }
        if self.description:
            data["description"] = self.description
        if self.pass_env:
            data["pass_env"] = list(self.pass_env)
        if self.resources:
            data["resources"] = dict(self.resources)
        if self.platforms != PLATFORMS:
            data["platforms"] = list(self.platforms)
        data["stages"] = {name: stage.to_dict() for name, stage in self.stages.items()}
        return data

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def requirements_file(self) -> Path | None:
        """The requirements file when it exists."""
        path = self.root / self.requirements
        return path if path.is_file() else None

    def stage(self, name: str) -> StageConfig:
        """The stage called `name`; `dev` and `test` exist even when not written (empty)."""
        if name in self.stages:
            return self.stages[name]
        if name in IMPLICIT_STAGES:
            return StageConfig(name=name)
        known = ", ".join(sorted(self.stages)) or "none"
        raise ConfigError(f'{self.config_file}: no stage named {name!r} (stages: {known}); add it under "stages"')


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of `mldock.json`."""
    text = resources.files("mldock.project").joinpath("mldock.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load_project(path: Path | str) -> ProjectConfig:
    """Read and validate the project at `path` (its folder or its `mldock.json`)."""
    path = Path(path)
    config_file = path if path.name == CONFIG_FILE or path.is_file() else path / CONFIG_FILE
    if not config_file.is_file():
        raise ConfigError(
            f"{config_file}: not found; run `mldock init {config_file.parent}` or point at a folder with {CONFIG_FILE}"
        )
    try:
        text = config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_file}: cannot be read ({exc})") from exc
    return parse_config(text, root=config_file.parent.resolve(), source=str(config_file))


def parse_config(text: str, *, root: Path, source: str = CONFIG_FILE) -> ProjectConfig:
    """Parse `mldock.json` text. Raises ConfigError naming the field path and what was expected."""
    try:
        data = json.loads(
            text.removeprefix("\ufeff"),
            object_pairs_hook=_object,
            parse_constant=_Refused.constant,
            parse_int=_integer,
            parse_float=_float,
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{source}: {_too_deep(text)}: nested more than {MAX_DEPTH} arrays/objects deep") from exc
    _report(_value_problems(data), source)
    _validate(data, source)
    _report(_meaning_problems(data, root), source)
    stages = {name: _stage(name, raw, source) for name, raw in data.get("stages", {}).items()}
    defaults = schema()["properties"]
    return ProjectConfig(
        root=root,
        name=data["name"],
        base_image=data.get("base_image", defaults["base_image"]["default"]),
        requirements=data.get("requirements", defaults["requirements"]["default"]),
        train=data.get("train", defaults["train"]["default"]),
        serve=data.get("serve", defaults["serve"]["default"]),
        description=data.get("description", ""),
        stages=MappingProxyType(stages),
        pass_env=tuple(data.get("pass_env", ())),
        resources=MappingProxyType(dict(data.get("resources", {}))),
        platforms=tuple(data.get("platforms", PLATFORMS)),
    )


def _validate(data: object, source: str) -> None:
    import jsonschema  # deferred: tooling only

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if not errors:
        return
    lines = [f"{source}: {len(errors)} problem(s):"]
    lines += [f"  - {_field_path(e)}: {_explain(e)}" for e in errors[:10]]
    if len(errors) > 10:
        lines.append(f"  ... and {len(errors) - 10} more")
    raise ConfigError("\n".join(lines))


# -- values JSON allows but a project file must not hold -------------------------------------------------------

_INT64 = 2**63


class _Refused:
    """What the JSON parser met in place of a value mldock refuses; reported with its field's path afterwards."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem

    @classmethod
    def constant(cls, name: str) -> _Refused:
        return cls(f"{name} is not a number JSON allows; write a finite number, or a string")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Refused:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            return _Refused(f"the key {_shorten(key)} is written more than once; keep one")
        result[key] = value
    return result


def _integer(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > 19 or not -_INT64 <= int(text) < _INT64:
        return _Refused(f"an integer of {digits} digits is beyond 64 bits; write it as a string")
    return int(text)


def _float(text: str) -> float | _Refused:
    number = float(text)
    if not math.isfinite(number):
        return _Refused(f"{_shorten(text)} is too large for a number; write it as a string")
    return number


def _value_problems(data: Any) -> list[str]:
    """`path: problem` for each refused value, bad text and too deep nesting in `data` (iteratively)."""
    problems: list[str] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack and len(problems) < 10:
        value, path = stack.pop()
        if isinstance(value, _Refused):
            problems.append(f"{_path(path)}: {value.problem}")
        elif isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                problems.append(f"{_path(path)}: the value {problem}")
        elif isinstance(value, (dict, list)):
            if len(path) >= MAX_DEPTH:
                problems.append(f"{_path(path)}: nested more than {MAX_DEPTH} arrays/objects deep")
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                key_problem = _text_problem(key) if isinstance(key, str) else ""
                if key_problem:
                    problems.append(f"{_path(path)}: the key {key_problem}")
                else:
                    stack.append((item, (*path, str(key))))
    return sorted(problems)


def _too_deep(text: str) -> str:
    """The path of the first value nested more than MAX_DEPTH deep in JSON `text` too deep for the parser
    (a scan that follows strings, keys and indexes; the parser has already met the text)."""
    path: list[str] = []
    index: list[int | None] = []  # per open container: the array index, None in an object
    pending_key: str | None = None
    position = 0
    while position < len(text):
        char = text[position]
        if char == '"':
            end = position + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            pending_key = text[position + 1 : end]
            position = end
        elif char in "[{":
            if index and index[-1] is not None:
                path.append(str(index[-1]))
            elif index:
                path.append(pending_key or "")
            index.append(0 if char == "[" else None)
            if len(index) > MAX_DEPTH:
                return _path(tuple(path))
        elif char in "]}":
            index.pop() if index else None
            if path:
                path.pop()
        elif char == "," and index and index[-1] is not None:
            index[-1] += 1
        position += 1
    return "(top level)"


def _text_problem(text: str) -> str:
    if "\x00" in text:
        return f"{_shorten(text)} holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{_shorten(text)} is not valid Unicode text (a lone surrogate)"
    return ""


def _meaning_problems(data: dict[str, Any], root: Path) -> list[str]:
    """What the schema cannot say: the requirements file stays in the project; channel variables parse."""
    problems: list[str] = []
    requirements = data.get("requirements")
    if isinstance(requirements, str) and not _inside(root, requirements):
        problems.append(
            f"requirements: {requirements!r} is outside the project folder; name a file inside it, "
            f"relative to {CONFIG_FILE}"
        )
    for stage_name, stage in data.get("stages", {}).items():
        environment = stage.get("environment", {})
        variables = {
            (key if key.startswith(PREFIX) else PREFIX + key): _as_text(value) for key, value in environment.items()
        }
        written = {(key if key.startswith(PREFIX) else PREFIX + key): key for key in environment}
        for variable, value in variables.items():
            if not is_channel_variable(variable):
                continue
            where = f"stages.{stage_name}.environment.{written[variable]}"
            try:
                parse_channels({variable: value}, Path("/"), resolve_uri=_scheme_or_placeholder)
            except ChannelError as exc:
                problems.append(f"{where}: {exc}")
        for platform, settings in stage.get("platforms", {}).items():
            for key, value in settings.items():
                if key in _URI_SETTINGS and isinstance(value, str):
                    try:
                        parse_uri(value)
                    except InvalidURIError as exc:
                        problems.append(f"stages.{stage_name}.platforms.{platform}.{key}: {exc}")
    return problems


_URI_SETTINGS = frozenset({"output_path", "checkpoint_uri", "base_output_directory"})
_PLACEHOLDER_URI = "file:///resolved-by-the-platform-environment"


def _scheme_or_placeholder(value: str, variable: str) -> str:
    """A channel value with a scheme as it is; one without (a platform environment's bare `bucket/path`, checked
    when it runs) as a placeholder, so the variable's name is still checked here."""
    head = value.split("/", 1)[0]
    return value if ":" in head or not value else _PLACEHOLDER_URI


def _inside(root: Path, relative: str) -> bool:
    if Path(relative).is_absolute():
        return False
    base = root.resolve()
    try:
        (base / relative).resolve().relative_to(base)
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (older Pythons)
        return False
    return True


def _report(problems: list[str], source: str) -> None:
    if not problems:
        return
    lines = [f"{source}: {len(problems)} problem(s):"]
    lines += [f"  - {problem}" for problem in problems[:10]]
    if len(problems) > 10:
        lines.append(f"  ... and {len(problems) - 10} more")
    raise ConfigError("\n".join(lines))


def _path(parts: tuple[str, ...]) -> str:
    if len(parts) > 12:  # a deeply nested value: its field, then how deep
        return ".".join(parts[:6]) + f"... ({len(parts)} levels down)"
    return ".".join(parts) if parts else "(top level)"


def _shorten(text: str, limit: int = 60) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


_PATTERN_MEANING = {
    "^[a-z0-9][a-z0-9_.-]{0,62}$": "lower-case letters, digits, '_', '.', '-'; starting with a letter or digit; "
    "at most 63 characters",
    STAGE_NAME_PATTERN: STAGE_NAME_RULE,
    "^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$": "module:attribute, like trainer:train",
    "^[A-Za-z_][A-Za-z0-9_]*$": "a variable name: letters, digits and '_', not starting with a digit",
    "^[a-z0-9][a-z0-9_.-]*$": "a channel name: lower-case letters, digits, '_', '.', '-'",
    "^(?!MLDOCK_)[A-Za-z_][A-Za-z0-9_]*\\*?$": "a variable name (letters, digits and '_', not starting with a digit) "
    "or a prefix ending in '*'; MLDOCK_ variables come from the stages, never from the host",
}


def _field_path(error: Any) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [str(name) for name in error.validator_value if name not in error.instance]
        parts.extend(missing[:1])
    elif "propertyNames" in error.schema_path:
        parts.append(str(error.instance))
    return ".".join(parts) if parts else "(top level)"


def _explain(error: Any) -> str:
    validator, value = error.validator, error.instance
    if validator == "required":
        return "this required field is missing"
    if validator == "pattern":
        meaning = _PATTERN_MEANING.get(str(error.validator_value), f"the form {error.validator_value}")
        what = "the key" if "propertyNames" in error.schema_path else "the value"
        return f"{what} {value!r} is not allowed; expected {meaning}"
    if validator == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown field(s) {', '.join(map(repr, extra))}{hint}"
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {expected}, got {type(value).__name__} {json.dumps(value)[:60]}"
    return str(error.message)


def _stage(name: str, raw: Mapping[str, Any], source: str) -> StageConfig:
    environment: dict[str, str] = {}
    for key, value in raw.get("environment", {}).items():
        full = key if key.startswith(PREFIX) else PREFIX + key
        if full in environment:
            raise ConfigError(
                f"{source}: stages.{name}.environment: {key!r} and another key both become {full}; keep one"
            )
        environment[full] = _as_text(value)
    return StageConfig(
        name=name,
        production=bool(raw.get("production", False)),
        description=raw.get("description", ""),
        environment=MappingProxyType(environment),
        hyperparameters=MappingProxyType(dict(raw.get("hyperparameters", {}))),
        seed=MappingProxyType(dict(raw.get("seed", {}))),
        optional_channels=tuple(raw.get("optional_channels", ())),
        serve_channels=tuple(raw["serve_channels"]) if "serve_channels" in raw else None,
        resources=MappingProxyType(dict(raw.get("resources", {}))),
        platforms=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in raw.get("platforms", {}).items()}),
    )


def _as_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
