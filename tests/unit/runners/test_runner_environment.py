"""The task environment: layers, hyperparameters, masking."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import HyperparameterError
from mldock.project.config import ProjectConfig, StageConfig
from mldock.runners.base import RunSpec
from mldock.runners.environment import merged_hyperparameters, task_environment


def _spec(
    *,
    stage_env: dict[str, str] | None = None,
    stage_hp: dict[str, Any] | None = None,
    environment: dict[str, str] | None = None,
    hyperparameters: dict[str, Any] | None = None,
) -> RunSpec:
    stage = StageConfig(
        name="test",
        environment=MappingProxyType(stage_env or {}),
        hyperparameters=MappingProxyType(stage_hp or {}),
    )
    project = ProjectConfig(root=Path("/nowhere"), name="demo", stages=MappingProxyType({"test": stage}))
    return RunSpec(project, stage, environment=environment or {}, hyperparameters=hyperparameters or {})


def test_stage_variables_and_stage_name() -> None:
    env = task_environment(_spec(stage_env={"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://bkt/train"}))
    assert env.variables == {"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://bkt/train", "MLDOCK_STAGE": "test"}


def test_layers_later_wins() -> None:
    spec = _spec(
        stage_env={"MLDOCK_A": "stage", "MLDOCK_B": "stage"},
        environment={"MLDOCK_B": "spec", "AWS_ENDPOINT_URL": "http://from-spec"},
    )
    env = task_environment(
        spec,
        emulator_env={"AWS_ENDPOINT_URL": "http://from-emulator"},
        runner_env={"MLDOCK_BASE_DIR": "/tmp/base"},
    )
    assert env.variables["MLDOCK_A"] == "stage"
    assert env.variables["MLDOCK_B"] == "spec"
    assert env.variables["AWS_ENDPOINT_URL"] == "http://from-emulator"
    assert env.variables["MLDOCK_BASE_DIR"] == "/tmp/base"


def test_hyperparameters_overlay_stage_then_variable_then_spec() -> None:
    spec = _spec(
        stage_hp={"lr": 0.1, "epochs": 3, "name": "stage"},
        environment={"MLDOCK_HYPERPARAMETERS": json.dumps({"epochs": 5, "depth": 2})},
        hyperparameters={"lr": 0.5},
    )
    env = task_environment(spec)
    assert json.loads(env.variables["MLDOCK_HYPERPARAMETERS"]) == {
        "lr": 0.5,
        "epochs": 5,
        "depth": 2,
        "name": "stage",
    }


def test_no_hyperparameters_no_variable() -> None:
    assert "MLDOCK_HYPERPARAMETERS" not in task_environment(_spec()).variables


@pytest.mark.parametrize(
    ("value", "match"),
    [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object"), ("3", "must be a JSON object")],
    ids=["invalid-json", "list", "number"],
)
def test_bad_hyperparameters_variable_is_a_user_error(value: str, match: str) -> None:
    with pytest.raises(HyperparameterError, match=match):
        task_environment(_spec(environment={"MLDOCK_HYPERPARAMETERS": value}))


def test_unserialisable_hyperparameter_is_a_user_error() -> None:
    with pytest.raises(HyperparameterError, match="cannot be written as JSON"):
        task_environment(_spec(hyperparameters={"when": object()}))


@pytest.mark.parametrize(
    "name",
    [
        "AZURE_STORAGE_CONNECTION_STRING",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "MLDOCK_API_TOKEN",
        "DB_PASSWORD",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "MLDOCK_SECRET",
    ],
)
def test_secrets_are_masked_in_the_reported_copy(name: str) -> None:
    env = task_environment(_spec(environment={name: "s3cr3t-value", "MLDOCK_PLAIN": "visible"}))
    assert env.variables[name] == "s3cr3t-value"
    assert env.masked[name] == "***"
    assert env.masked["MLDOCK_PLAIN"] == "visible"
    assert "s3cr3t-value" not in env.redact(f"connecting with s3cr3t-value to {name}")


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=8), max_size=5))
def test_spec_hyperparameters_always_win(overlay: dict[str, Any]) -> None:
    spec = _spec(stage_hp={"a": 1, "b": "x"}, hyperparameters=overlay)
    merged = merged_hyperparameters(spec)
    for key, value in overlay.items():
        assert merged[key] == value
    env = task_environment(spec)
    assert json.loads(env.variables["MLDOCK_HYPERPARAMETERS"]) == merged


def test_hyperparameters_travel_in_a_file_with_their_secrets_still_masked(tmp_path: Path) -> None:
    big = "v" * 300_000
    env = task_environment(_spec(hyperparameters={"api_token": "tok-file-secret-1", "big": big}))
    moved = env.hyperparameters_in_file(tmp_path)
    assert "MLDOCK_HYPERPARAMETERS" not in moved.variables
    path = Path(moved.variables["MLDOCK_HYPERPARAMETERS_FILE"])
    assert json.loads(path.read_text(encoding="utf-8"))["big"] == big
    assert json.loads(moved.masked["MLDOCK_HYPERPARAMETERS"])["api_token"] == "***"  # still shown, masked
    assert moved.redact("printed tok-file-secret-1") == "printed ***"
    assert task_environment(_spec()).hyperparameters_in_file(tmp_path).variables.keys() == (
        task_environment(_spec()).variables.keys()
    )
