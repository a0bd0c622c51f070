"""Stage names and the stage-attached @on_startup/@on_cleanup steps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mldock.errors import StageError
from mldock.runtime.stages import DEFAULT_STAGE, Phase, collect_steps, on_cleanup, on_startup, parse_stage


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ["dev", "test", "prod", "stage-2", "a_b"]])
def test_valid_stage_names(name: str) -> None:
    assert parse_stage(name) == name


def test_default_stage_is_dev() -> None:
    assert parse_stage(None) == DEFAULT_STAGE == "dev"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("Dev", id="upper"),
        pytest.param("1st", id="digit-first"),
        pytest.param("a b", id="space"),
        pytest.param("dev\n", id="newline"),
        pytest.param("x" * 64, id="too-long"),
    ],
)
def test_invalid_stage_names_raise_stage_error_naming_the_variable(name: str) -> None:
    with pytest.raises(StageError, match="MLDOCK_STAGE"):
        parse_stage(name)


@settings(deadline=None)
@given(st.text(max_size=20))
def test_stage_parsing_is_total_and_accepts_exactly_the_pattern(name: str) -> None:
    valid = re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", name) is not None
    try:
        assert parse_stage(name) == name
        assert valid
    except StageError:
        assert not valid


class Base:
    @on_startup
    def first(self) -> None: ...

    @on_startup(stages=["dev"])
    def dev_only(self) -> None: ...

    @on_cleanup(stages=["test", "prod"])
    def verify(self) -> None: ...


class Child(Base):
    def first(self) -> None:  # redefined without a decorator: no longer a step
        ...

    @on_startup(stages=["test"])
    def dev_only(self) -> None:  # redefined with other stages
        ...

    @on_startup
    def last(self) -> None: ...


def test_steps_are_collected_in_definition_order_bases_first() -> None:
    assert [name for name, _ in collect_steps(Base, Phase.STARTUP)] == ["first", "dev_only"]
    assert [name for name, _ in collect_steps(Base, Phase.CLEANUP)] == ["verify"]


def test_subclasses_replace_or_remove_steps() -> None:
    steps = dict(collect_steps(Child, Phase.STARTUP))
    assert list(steps) == ["dev_only", "last"]
    assert steps["dev_only"].runs_in("test")
    assert not steps["dev_only"].runs_in("dev")
    assert steps["last"].runs_in("anything")


@pytest.mark.parametrize(
    ("stages", "fragment"),
    [
        pytest.param("dev", "give a list", id="string"),
        pytest.param([], "empty list", id="empty"),
        pytest.param(["Dev"], "not a stage name", id="bad-name"),
        pytest.param([1], "expected a string", id="not-a-string"),
    ],
)
def test_bad_stage_lists_fail_at_decoration(stages: object, fragment: str) -> None:
    with pytest.raises(StageError, match=fragment):
        on_startup(stages=stages)  # type: ignore[arg-type]


def test_before_downloads_puts_a_startup_step_in_its_own_phase() -> None:
    class Steps:
        @on_startup(stages=["dev"], before_downloads=True)
        def seed(self) -> None: ...

        @on_startup
        def after(self) -> None: ...

    assert [name for name, _ in collect_steps(Steps, Phase.BEFORE_DOWNLOADS)] == ["seed"]
    assert [name for name, _ in collect_steps(Steps, Phase.STARTUP)] == ["after"]


def test_a_bad_stage_of_a_step_before_the_downloads_names_on_startup() -> None:
    with pytest.raises(StageError, match=r"@on_startup\(stages='dev'\)"):
        on_startup(stages="dev", before_downloads=True)
