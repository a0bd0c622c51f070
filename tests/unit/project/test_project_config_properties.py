"""Property tests: parsing `mldock.json` is total (a ProjectConfig or a ConfigError, nothing else) and round-trips."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mldock.errors import ConfigError
from mldock.project import ProjectConfig, parse_config

ROOT = Path("/project")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)

# what a valid file may hold (mldock.project.config refuses NUL, lone surrogates, integers beyond 64 bits and
# non-finite numbers wherever they stand)
clean_characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
valid_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(clean_characters, max_size=12)
)
valid_values = st.recursive(
    valid_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(clean_characters, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

names = st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,20}\Z")
# Built from characters, not st.from_regex: from_regex's padding once made hypothesis report
# FlakyStrategyDefinition ("Inconsistent data generation") for the stage test under xdist.
stage_names = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_lowercase),
    st.text(string.ascii_lowercase + string.digits + "_-", max_size=10),
)
entry_points = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.]{0,8}:[A-Za-z_][A-Za-z0-9_]{0,8}\Z")
env_keys = st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,12}\Z")
env_values = (
    st.text(clean_characters, max_size=20)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
)
stages = st.fixed_dictionaries(
    {},
    optional={
        "description": st.text(clean_characters, max_size=20),
        "production": st.booleans(),
        "environment": st.dictionaries(env_keys, env_values, max_size=4),
        "hyperparameters": st.dictionaries(st.text(clean_characters, max_size=8), valid_values, max_size=4),
        "seed": st.dictionaries(
            st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,8}\Z"), st.text(clean_characters, min_size=1, max_size=12)
        ),
    },
)
valid_configs = st.fixed_dictionaries(
    {"name": names},
    optional={
        "description": st.text(clean_characters, max_size=20),
        "base_image": st.text(clean_characters, min_size=1, max_size=30),
        "requirements": st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,8})?\Z"),
        "train": entry_points,
        "serve": entry_points,
        "stages": st.dictionaries(stage_names, stages, max_size=3),
    },
)


def _parse_or_config_error(text: str) -> ProjectConfig | None:
    error: ConfigError | None = None
    try:
        return parse_config(text, root=ROOT)
    except ConfigError as exc:
        error = exc
    assert str(error).startswith("mldock.json"), str(error)
    return None


@given(st.text())
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    _parse_or_config_error(text)


@given(json_values)
def test_any_json_gives_a_config_or_a_config_error(value: Any) -> None:
    _parse_or_config_error(json.dumps(value))


@given(valid_configs, st.sampled_from(["name", "train", "serve", "stages", "base_image", "requirements"]), json_values)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_valid_file_with_any_field_replaced_is_total(data: dict[str, Any], key: str, value: Any) -> None:
    _parse_or_config_error(json.dumps({**data, key: value}))


@given(valid_configs, stage_names, json_values)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_stage_of_any_shape_is_total(data: dict[str, Any], stage: str, value: Any) -> None:
    _parse_or_config_error(json.dumps({**data, "stages": {stage: value}}))


@given(valid_configs)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_what_is_accepted_round_trips(data: dict[str, Any]) -> None:
    project = _parse_or_config_error(json.dumps(data))
    if project is None:  # two environment keys that collide once prefixed
        keys = [k for s in data.get("stages", {}).values() for k in s.get("environment", {})]
        assert any(k.startswith("MLDOCK_") for k in keys)
        return
    again = parse_config(json.dumps(project.to_dict()), root=ROOT)
    assert again == project
    assert project.name == data["name"]
    for name, raw in data.get("stages", {}).items():
        stage = project.stage(name)
        assert stage.production is raw.get("production", False)
        assert all(key.startswith("MLDOCK_") for key in stage.environment)
        assert len(stage.environment) == len(raw.get("environment", {}))
        assert dict(stage.hyperparameters) == raw.get("hyperparameters", {})


@given(st.text(alphabet=string.printable, max_size=40))
def test_garbage_after_a_valid_document_is_a_config_error_or_whitespace(tail: str) -> None:
    text = '{"name": "p"}' + tail
    if tail.strip(" \t\n\r"):  # JSON whitespace only
        assert _parse_or_config_error(text) is None
    else:
        assert _parse_or_config_error(text) is not None
