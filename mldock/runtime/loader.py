"""Find the user's code in the project folder: assets.py's container class, the training step, the predictor.

Rules (the entrypoint's discovery contract):
- Project dir: `MLDOCK_PROJECT_DIR`, else the working directory (mldock.contract.project_dir_from); it is put
  first on `sys.path`.
- `assets.py` in the project dir is optional. The one TrainingContainer (ServingContainer) subclass defined in
  it is used; when several are defined, the one that no other subclasses (the single leaf) is used, and
  otherwise `MLDOCK_TRAINING_CONTAINER` (`MLDOCK_SERVING_CONTAINER`) must name it. No subclass: the base class.
- Training step: `MLDOCK_TRAIN`, else key "train" of `<project>/mldock.json`, else `trainer:train`.
  Serving handler: `MLDOCK_SERVE`, else key "serve", else `predictor:Predictor`. Both are `module:attribute`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar

from mldock import contract
from mldock.errors import AssetsError, ConfigError

__all__ = [
    "DEFAULT_TARGETS",
    "Target",
    "add_to_sys_path",
    "check_target",
    "import_target",
    "load_container_class",
    "resolve_target",
]

Task = Literal["train", "serve"]
DEFAULT_TARGETS: dict[str, str] = {"train": contract.DEFAULT_TRAIN_TARGET, "serve": contract.DEFAULT_SERVE_TARGET}
_VARIABLES: dict[str, str] = {"train": contract.TRAIN, "serve": contract.SERVE}
_CONTAINER_VARIABLES: dict[str, str] = {"train": contract.TRAINING_CONTAINER, "serve": contract.SERVING_CONTAINER}
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_TARGET_PATTERN = re.compile(rf"({_DOTTED}):({_DOTTED})")
ASSETS_MODULE = "assets"

C = TypeVar("C", bound=type)


@dataclass(frozen=True)
class Target:
    """A `module:attribute` reference to user code, and where it was configured (for error messages)."""

    module: str
    attribute: str
    source: str

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"

    @classmethod
    def parse(cls, value: str, source: str) -> Target:
        """Parse `module:attribute`; AssetsError naming `source` when malformed."""
        match = _TARGET_PATTERN.fullmatch(value.strip())
        if match is None:
            raise AssetsError(f"{source}: {value!r} is not module:attribute (e.g. trainer:train)")
        return cls(match.group(1), match.group(2), source)


def add_to_sys_path(project_dir: Path) -> None:
    """Put `project_dir` first on sys.path (once)."""
    entry = str(project_dir)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)


def resolve_target(task: Task, environ: Mapping[str, str], project_dir: Path) -> Target:
    """The training step or serving handler for `task`: variable, else mldock.json, else the default."""
    variable = _VARIABLES[task]
    if environ.get(variable, "").strip():
        return Target.parse(environ[variable], variable)
    configured = _read_entry_points(project_dir / "mldock.json").get(task)
    if configured is not None:
        return Target.parse(configured, f"{project_dir / 'mldock.json'} key {task!r}")
    return Target.parse(DEFAULT_TARGETS[task], f"the default {task} target (set {variable} or {task!r} in mldock.json)")


def check_target(target: Target) -> None:
    """AssetsError when the target's top-level module cannot be found; executes nothing."""
    top = target.module.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise AssetsError(f"{target.source}: module {top!r} of {target} not found on {sys.path[0]!r}")


def import_target(target: Target) -> Any:
    """Import the target's module and return its attribute; AssetsError when either does not exist.

    An exception raised while the module runs (including a missing dependency it imports) propagates.
    """
    try:
        module = importlib.import_module(target.module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (target.module == missing or target.module.startswith(missing + ".")):
            raise AssetsError(f"{target.source}: module {target.module!r} of {target} not found") from exc
        raise
    value: Any = module
    for part in target.attribute.split("."):
        if not hasattr(value, part):
            raise AssetsError(f"{target.source}: {target.module!r} has no attribute {target.attribute!r}")
        value = getattr(value, part)
    if not callable(value):
        raise AssetsError(f"{target.source}: {target} is not callable")
    return value


def load_container_class(task: Task, project_dir: Path, base: C, environ: Mapping[str, str]) -> C:
    """The container class for `task` from `<project>/assets.py` (see the module rules); `base` when none."""
    path = project_dir / "assets.py"
    if not path.is_file():
        return base
    module = _load_assets(path)
    variable = _CONTAINER_VARIABLES[task]
    chosen = environ.get(variable, "").strip()
    if chosen:
        found = getattr(module, chosen, None)
        if not (isinstance(found, type) and issubclass(found, base)):
            raise AssetsError(f"{variable}: {path} defines no {base.__name__} subclass named {chosen!r}")
        return found  # type: ignore[return-value]
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, base) and obj is not base and obj.__module__ == module.__name__
    ]
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise AssetsError(
            f"{path} defines several {base.__name__} subclasses ({names}); keep one, or set {variable} "
            "to the class name to use"
        )
    return leaves[0] if leaves else base  # type: ignore[return-value]


def _load_assets(path: Path) -> ModuleType:
    existing = sys.modules.get(ASSETS_MODULE)
    if existing is not None and getattr(existing, "__file__", None) == str(path):
        return existing
    spec = importlib.util.spec_from_file_location(ASSETS_MODULE, path)
    if spec is None or spec.loader is None:
        raise AssetsError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[ASSETS_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[ASSETS_MODULE]
        raise AssetsError(f"{path}: importing it raised {type(exc).__name__}: {exc}") from exc
    return module


def _read_entry_points(path: Path) -> dict[str, str]:
    """The "train" and "serve" strings of mldock.json (missing file → none); the rest is the tooling's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a JSON object")
    found: dict[str, str] = {}
    for key in ("train", "serve"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key}: must be a string like 'module:attribute', not {value!r}")
        found[key] = value
    return found
