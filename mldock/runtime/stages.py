"""Stages (`MLDOCK_STAGE`, default `dev`) and the stage-attached steps of a container's lifecycle.

    from mldock import TrainingContainer, on_startup, on_cleanup

    class Training(TrainingContainer):
        @on_startup(stages=["dev"])       # runs after the downloads, only in stage dev
        def seed_sample_data(self) -> None: ...

        @on_startup(stages=["dev"], before_downloads=True)   # runs before the downloads: can seed an input
        def seed_input_bucket(self) -> None: ...

        @on_cleanup(stages=["test"])      # runs before the uploads, only in stage test
        def verify_outputs(self) -> None: ...

`stages=None` (the default, also written as a bare `@on_startup`) runs the step in every stage. Steps run in
the order they are defined, base classes first; a subclass that redefines a step's name replaces it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from mldock import contract
from mldock.errors import StageError

__all__ = [
    "DEFAULT_STAGE",
    "Phase",
    "StepSpec",
    "collect_steps",
    "on_cleanup",
    "on_startup",
    "parse_stage",
]

DEFAULT_STAGE = contract.DEFAULT_STAGE
_MARK = "__mldock_step__"

F = TypeVar("F", bound=Callable[..., Any])


class Phase(enum.Enum):
    """When a step runs: at the start of startup() (before the downloads), at its end, or at the start of
    cleanup()."""

    BEFORE_DOWNLOADS = "before_downloads"
    STARTUP = "startup"
    CLEANUP = "cleanup"


@dataclass(frozen=True)
class StepSpec:
    """What a decorator attached to a method: its phase and its stages (None = every stage)."""

    phase: Phase
    stages: frozenset[str] | None

    def runs_in(self, stage: str) -> bool:
        """True when the step runs in `stage`."""
        return self.stages is None or stage in self.stages


def parse_stage(value: str | None, *, variable: str = contract.STAGE) -> str:
    """The stage named by `value` (None or absent → `dev`); StageError names `variable` when it is unusable."""
    if value is None:
        return DEFAULT_STAGE
    if not isinstance(value, str):
        raise StageError(f"{variable}: {value!r} is not a stage name (expected a string)")
    if not contract.is_stage_name(value):
        raise StageError(
            f"{variable}: {value!r} is not a stage name; use {contract.STAGE_NAME_RULE} (e.g. dev, test, prod)"
        )
    return value


@overload
def on_startup(func: F, /) -> F: ...
@overload
def on_startup(*, stages: Iterable[str] | None = None, before_downloads: bool = False) -> Callable[[F], F]: ...
def on_startup(
    func: F | None = None, /, *, stages: Iterable[str] | None = None, before_downloads: bool = False
) -> F | Callable[[F], F]:
    """Run the decorated method at the end of startup(), after the downloads, in `stages` (None = all).

    With `before_downloads=True` it runs at the start of startup() instead, before any channel is downloaded:
    a dev-only step can then fill an emulated input bucket that the download reads.
    """
    return _decorate(Phase.BEFORE_DOWNLOADS if before_downloads else Phase.STARTUP, func, stages)


@overload
def on_cleanup(func: F, /) -> F: ...
@overload
def on_cleanup(*, stages: Iterable[str] | None = None) -> Callable[[F], F]: ...
def on_cleanup(func: F | None = None, /, *, stages: Iterable[str] | None = None) -> F | Callable[[F], F]:
    """Run the decorated method at the start of cleanup(), before the uploads, in `stages` (None = all)."""
    return _decorate(Phase.CLEANUP, func, stages)


def collect_steps(cls: type, phase: Phase) -> list[tuple[str, StepSpec]]:
    """The (method name, spec) of every step of `phase` defined on `cls`, in definition order, bases first."""
    steps: dict[str, StepSpec | None] = {}
    for klass in reversed(cls.__mro__):
        for name, attribute in vars(klass).items():
            spec = getattr(attribute, _MARK, None)
            if isinstance(spec, StepSpec):
                steps[name] = spec
            elif name in steps:
                steps[name] = None  # redefined without a decorator: no longer a step
    return [(name, spec) for name, spec in steps.items() if spec is not None and spec.phase is phase]


def _decorator_name(phase: Phase) -> str:
    return "on_startup" if phase is Phase.BEFORE_DOWNLOADS else f"on_{phase.value}"


def _decorate(phase: Phase, func: F | None, stages: Iterable[str] | None) -> F | Callable[[F], F]:
    spec = StepSpec(phase, _parse_stages(phase, stages))

    def mark(target: F) -> F:
        if not callable(target):
            raise TypeError(f"@{_decorator_name(phase)} decorates a method, not {target!r}")
        setattr(target, _MARK, spec)
        return target

    return mark(func) if func is not None else mark


def _parse_stages(phase: Phase, stages: Iterable[str] | None) -> frozenset[str] | None:
    if stages is None:
        return None
    decorator = _decorator_name(phase)
    if isinstance(stages, str):
        raise StageError(f"@{decorator}(stages={stages!r}): give a list of stage names, e.g. [{stages!r}]")
    parsed = frozenset(parse_stage(stage, variable=f"@{decorator}(stages=...)") for stage in stages)
    if not parsed:
        raise StageError(f"@{decorator}(stages=[]): an empty list never runs; name a stage or use None")
    return parsed
