"""`mldock.json`: bad files give errors naming the field path and what was expected; good files load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mldock.errors import ConfigError, UserError
from mldock.project import CONFIG_FILE, DEFAULT_BASE_IMAGE, load_project, parse_config, schema

ROOT = Path("/project")


def _parse(data: Any) -> Any:
    return parse_config(json.dumps(data), root=ROOT)


def _error(data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data if isinstance(data, str) else json.dumps(data), root=ROOT)
    return str(info.value)


FULL = {
    "name": "iris-trainer",
    "description": "trains on iris",
    "base_image": "localhost/mldock-python:3.11-bookworm",
    "requirements": "reqs.txt",
    "train": "pkg.trainer:fit",
    "serve": "pkg.predictor:Model",
    "stages": {
        "dev": {
            "environment": {"INPUT_CHANNEL_TRAIN": "gs://data/iris", "MLDOCK_OUTPUT_CHANNEL_METRICS": "az://mdl/x"},
            "hyperparameters": {"n_estimators": 10, "max_depth": None},
            "seed": {"train": "data/iris"},
        },
        "prod": {"production": True, "environment": {"RETRIES": 3, "VERBOSE": True, "RATE": 0.5}},
    },
}


def test_a_full_file_loads_with_prefixed_environment() -> None:
    project = _parse(FULL)
    assert project.name == "iris-trainer"
    assert project.base_image == "localhost/mldock-python:3.11-bookworm"
    assert (project.train, project.serve, project.requirements) == (
        "pkg.trainer:fit",
        "pkg.predictor:Model",
        "reqs.txt",
    )
    dev = project.stage("dev")
    assert dict(dev.environment) == {
        "MLDOCK_INPUT_CHANNEL_TRAIN": "gs://data/iris",
        "MLDOCK_OUTPUT_CHANNEL_METRICS": "az://mdl/x",
    }
    assert dict(dev.hyperparameters) == {"n_estimators": 10, "max_depth": None}
    assert dict(dev.seed) == {"train": "data/iris"}
    assert dev.production is False
    prod = project.stage("prod")
    assert prod.production is True
    assert dict(prod.environment) == {"MLDOCK_RETRIES": "3", "MLDOCK_VERBOSE": "true", "MLDOCK_RATE": "0.5"}
    assert prod.container_environment()["MLDOCK_STAGE"] == "prod"


def test_defaults_come_from_the_schema() -> None:
    project = _parse({"name": "p"})
    defaults = schema()["properties"]
    assert project.base_image == DEFAULT_BASE_IMAGE == defaults["base_image"]["default"]
    assert (project.train, project.serve) == ("trainer:train", "predictor:Predictor")
    assert project.requirements == "requirements.txt"
    assert project.stage("dev").environment == {}
    assert project.stage("test").name == "test"


def test_an_unknown_stage_names_the_known_ones() -> None:
    project = _parse({"name": "p", "stages": {"dev": {}, "prod": {"production": True}}})
    with pytest.raises(ConfigError, match=r"no stage named 'staging' \(stages: dev, prod\)"):
        project.stage("staging")


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        pytest.param({}, "name", "required field is missing", id="missing-name"),
        pytest.param({"name": "Bad Name"}, "name", "expected lower-case letters", id="bad-name"),
        pytest.param({"name": 7}, "name", "expected string, got int 7", id="name-not-string"),
        pytest.param({"name": "p", "stagez": {}}, "(top level)", "unknown field(s) 'stagez'", id="unknown-field"),
        pytest.param({"name": "p", "train": "trainer"}, "train", "expected module:attribute", id="train-no-colon"),
        pytest.param({"name": "p", "serve": "a:b:c"}, "serve", "expected module:attribute", id="serve-bad"),
        pytest.param({"name": "p", "base_image": ""}, "base_image", "should be non-empty", id="empty-base-image"),
        pytest.param({"name": "p", "stages": []}, "stages", "expected object, got list", id="stages-not-object"),
        pytest.param(
            {"name": "p", "stages": {"Dev": {}}}, "stages.Dev", "the key 'Dev' is not allowed", id="stage-name"
        ),
        pytest.param(
            {"name": "p", "stages": {"dev": {"production": "yes"}}},
            "stages.dev.production",
            'expected boolean, got str "yes"',
            id="production-not-bool",
        ),
        pytest.param(
            {"name": "p", "stages": {"dev": {"environment": {"X": {"a": 1}}}}},
            "stages.dev.environment.X",
            "expected string or number or boolean, got dict",
            id="env-value-object",
        ),
        pytest.param(
            {"name": "p", "stages": {"dev": {"environment": {"bad-key": "1"}}}},
            "stages.dev.environment.bad-key",
            "expected a variable name",
            id="env-key",
        ),
        pytest.param(
            {"name": "p", "stages": {"dev": {"hyperparameters": [1, 2]}}},
            "stages.dev.hyperparameters",
            "expected object, got list",
            id="hyperparameters-not-object",
        ),
        pytest.param(
            {"name": "p", "stages": {"dev": {"seed": {"train": ""}}}},
            "stages.dev.seed.train",
            "should be non-empty",
            id="seed-empty-folder",
        ),
        pytest.param(
            {"name": "p", "stages": {"dev": {"seed": {"Train": "data"}}}},
            "stages.dev.seed.Train",
            "expected a channel name",
            id="seed-channel-name",
        ),
        pytest.param(
            {"name": "p", "stages": {"dev": {"hyperparameter": {}}}},
            "stages.dev",
            "unknown field(s) 'hyperparameter'",
            id="stage-unknown-field",
        ),
    ],
)
def test_a_bad_field_is_named_with_its_path_and_what_was_expected(data: Any, path: str, expected: str) -> None:
    message = _error(data)
    assert f"  - {path}: " in message, message
    assert expected in message, message


def test_every_problem_is_listed_not_only_the_first() -> None:
    message = _error({"name": "X", "train": "nope", "stages": {"dev": {"production": 1}}})
    assert "3 problem(s)" in message
    for path in ("name", "train", "stages.dev.production"):
        assert f"  - {path}: " in message


def test_an_unknown_field_lists_the_allowed_ones() -> None:
    message = _error({"name": "p", "image": "x"})
    allowed = (
        "$schema, base_image, description, name, pass_env, platforms, requirements, resources, serve, stages, train"
    )
    assert f"allowed: {allowed}" in message


def test_invalid_json_gives_line_and_column() -> None:
    message = _error('{\n  "name": "p",\n}')
    assert "not valid JSON at line 3 column 1" in message


def test_two_environment_keys_that_become_one_variable_are_refused() -> None:
    message = _error({"name": "p", "stages": {"dev": {"environment": {"A": "1", "MLDOCK_A": "2"}}}})
    assert "stages.dev.environment" in message
    assert "MLDOCK_A" in message


def test_deep_nesting_is_a_config_error() -> None:
    message = _error('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert message.startswith("mldock.json: name.0.0"), message
    assert "nested more than 100 arrays/objects deep" in message


def test_config_error_is_a_user_error() -> None:
    assert issubclass(ConfigError, UserError)


def test_load_project_from_folder_or_file(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text(json.dumps(FULL), encoding="utf-8")
    from_folder = load_project(tmp_path)
    from_file = load_project(tmp_path / CONFIG_FILE)
    assert from_folder == from_file
    assert from_folder.root == tmp_path.resolve()
    assert from_folder.config_file == tmp_path.resolve() / CONFIG_FILE


def test_load_project_names_the_file_in_errors(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text('{"name": "p", "stages": {"dev": {"production": "no"}}}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert str(info.value).startswith(str(tmp_path / CONFIG_FILE))
    assert "stages.dev.production" in str(info.value)


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; run `mldock init"):
        load_project(tmp_path / "nowhere")


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_bytes(b'{"name": "\xff"}')
    with pytest.raises(ConfigError, match="cannot be read"):
        load_project(tmp_path)


def test_requirements_file_only_when_it_exists(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text('{"name": "p"}', encoding="utf-8")
    assert load_project(tmp_path).requirements_file is None
    (tmp_path / "requirements.txt").write_text("scikit-learn\n", encoding="utf-8")
    assert load_project(tmp_path).requirements_file == tmp_path.resolve() / "requirements.txt"


def test_to_dict_is_valid_and_parses_back_equal() -> None:
    project = _parse(FULL)
    again = _parse(project.to_dict())
    assert again == project


def test_the_published_schema_equals_the_packaged_one() -> None:
    published = Path(__file__).resolve().parents[3] / "docs" / "mldock.schema.json"
    assert json.loads(published.read_text(encoding="utf-8")) == schema()


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema())


# -- pass_env and optional channels ---------------------------------------------------------------------------


def test_pass_env_and_optional_channels_load_and_round_trip() -> None:
    data = {
        "name": "p",
        "pass_env": ["MY_TOKEN", "TEAM_*"],
        "stages": {"dev": {"optional_channels": ["warm_start"], "serve_channels": ["model"]}, "test": {}},
    }
    config = _parse(data)
    assert config.stage("dev").serve_channels == ("model",)
    assert config.stage("test").serve_channels is None
    assert config.stage("dev").container_environment()["MLDOCK_SERVE_CHANNELS"] == "model"
    assert config.pass_env == ("MY_TOKEN", "TEAM_*")
    assert config.stage("dev").optional_channels == ("warm_start",)
    assert config.stage("dev").container_environment()["MLDOCK_OPTIONAL_CHANNELS"] == "warm_start"
    assert _parse(config.to_dict()) == config


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "p", "pass_env": ["MLDOCK_STAGE"]}, "pass_env.0: the value 'MLDOCK_STAGE' is not allowed"),
        ({"name": "p", "pass_env": ["A-B"]}, "pass_env.0: the value 'A-B' is not allowed"),
        ({"name": "p", "pass_env": "A"}, "pass_env: expected array"),
        (
            {"name": "p", "stages": {"dev": {"optional_channels": ["Warm Start"]}}},
            "stages.dev.optional_channels.0: the value 'Warm Start' is not allowed; expected a channel name",
        ),
    ],
    ids=["mldock-variable", "bad-name", "not-a-list", "bad-channel"],
)
def test_bad_pass_env_and_optional_channels_name_the_field(data: dict[str, Any], expected: str) -> None:
    assert expected in _error(data)


def test_resources_load_for_the_project_and_a_stage() -> None:
    config = _parse({"name": "p", "resources": {"shm_size": "1g"}, "stages": {"test": {"resources": {"gpus": "all"}}}})
    assert dict(config.resources) == {"shm_size": "1g"}
    assert dict(config.stage("test").resources) == {"gpus": "all"}
    assert _parse(config.to_dict()) == config
    assert "resources.cpus: expected number" in _error({"name": "p", "resources": {"cpus": "two"}})
    assert "unknown field(s) 'gpu'" in _error({"name": "p", "resources": {"gpu": 1}})
