"""Environment.from_env: fields, settings, paths, prepare(), to_environ() round trip, subclass hook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mldock import contract
from mldock.errors import ChannelError, StageError, UserError
from mldock.runtime.channels import ChannelKind, channel_variable
from mldock.runtime.environment import DEFAULT_BASE_DIR, Environment


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {
        "MLDOCK_STAGE": "test",
        "MLDOCK_PROJECT_DIR": str(tmp_path / "project"),
        "MLDOCK_INPUT_CHANNEL_TRAIN": "file:///data/train",
        "MLDOCK_MODEL_INPUT_CHANNEL_BASE": "s3://models/base",
        "MLDOCK_OUTPUT_CHANNEL_METRICS": "gs://out/metrics",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_BASE": "az://models/tuned",
        "MLDOCK_HYPERPARAMETERS": '{"epochs": "5"}',
        "MLDOCK_CREATE_MISSING_BUCKETS": "true",
        "MLDOCK_API_TOKEN": "very-secret-value",
        "HOME": "/root",
    }


def test_fields_come_from_the_variables(environ: dict[str, str], tmp_path: Path) -> None:
    env = Environment.from_env(environ, base_dir=tmp_path / "base")
    assert env.base_dir == tmp_path / "base"
    assert env.stage == "test"
    assert env.project_dir == tmp_path / "project"
    assert env.hyperparameters.get("epochs", int) == 5
    assert dict(env.settings) == {"CREATE_MISSING_BUCKETS": "true", "API_TOKEN": "very-secret-value"}
    assert [c.name for c in env.input_channels] == ["train"]
    assert [c.name for c in env.input_model_channels] == ["base"]
    assert [c.name for c in env.output_channels] == ["metrics"]
    assert [c.name for c in env.output_model_channels] == ["base"]
    assert env.channel("metrics", ChannelKind.OUTPUT).path == tmp_path / "base" / "output" / "metrics"


def test_paths_follow_the_contract(tmp_path: Path) -> None:
    env = Environment.from_env({}, base_dir=tmp_path)
    assert (env.input_dir, env.input_data_dir, env.config_dir) == (
        tmp_path / "input",
        tmp_path / "input" / "data",
        tmp_path / "input" / "config",
    )
    assert (env.model_dir, env.output_dir, env.failure_file) == (
        tmp_path / "model",
        tmp_path / "output",
        tmp_path / "output" / "failure",
    )


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    env = Environment.from_env({})
    assert (env.base_dir, env.stage, env.project_dir, env.channels) == (DEFAULT_BASE_DIR, "dev", tmp_path, ())


def test_base_dir_variable_and_os_environ_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLDOCK_BASE_DIR", str(tmp_path))
    monkeypatch.setenv("MLDOCK_STAGE", "prod")
    env = Environment.from_env()
    assert (env.base_dir, env.stage) == (tmp_path, "prod")


def test_hyperparameters_file_is_read_below_the_base_dir(tmp_path: Path) -> None:
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"a": 1, "b": 2}))
    env = Environment.from_env({"MLDOCK_HYPERPARAMETERS": '{"b": 3}'}, base_dir=tmp_path)
    assert dict(env.hyperparameters) == {"a": 1, "b": 3}


@pytest.mark.parametrize(
    ("environ", "error"),
    [
        pytest.param({"MLDOCK_STAGE": "PROD"}, StageError, id="stage"),
        pytest.param({"MLDOCK_INPUT_CHANNEL_X": "nope"}, ChannelError, id="channel"),
        pytest.param({"MLDOCK_BASE_DIR": ""}, UserError, id="empty-base-dir"),
        pytest.param({"MLDOCK_PROJECT_DIR": " "}, UserError, id="blank-project-dir"),
    ],
)
def test_bad_variables_are_user_errors(environ: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        Environment.from_env(environ)


def test_project_dir_is_the_contracts_one_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for value in ("code", " code ", "./x/../code", str(tmp_path / "code")):
        environ = {"MLDOCK_PROJECT_DIR": value}
        env = Environment.from_env(environ, base_dir=tmp_path)
        assert env.project_dir == contract.project_dir_from(environ) == tmp_path / "code"


def test_channel_lookup_error_lists_configured_channels(environ: dict[str, str], tmp_path: Path) -> None:
    env = Environment.from_env(environ, base_dir=tmp_path)
    with pytest.raises(ChannelError, match=r"MLDOCK_INPUT_CHANNEL_VALID.*configured: train"):
        env.channel("valid")


def test_prepare_creates_folders_and_removes_a_stale_failure_file(environ: dict[str, str], tmp_path: Path) -> None:
    env = Environment.from_env(environ, base_dir=tmp_path / "base")
    env.output_dir.mkdir(parents=True)
    env.failure_file.write_text("old failure")
    env.prepare()
    for channel in env.channels:
        assert channel.path.is_dir()
    assert env.config_dir.is_dir()
    assert not env.failure_file.exists()


def test_to_environ_round_trips_with_canonical_spellings(environ: dict[str, str], tmp_path: Path) -> None:
    env = Environment.from_env(environ, base_dir=tmp_path)
    exported = env.to_environ()
    assert "MLDOCK_MODEL_INPUT_CHANNEL_BASE" not in exported
    assert exported["MLDOCK_INPUT_MODEL_CHANNEL_BASE"] == "s3://models/base"
    assert "HOME" not in exported
    assert Environment.from_env(exported) == env


def test_repr_masks_secret_settings(environ: dict[str, str], tmp_path: Path) -> None:
    assert "very-secret-value" not in repr(Environment.from_env(environ, base_dir=tmp_path))


class BucketEnvironment(Environment):
    """A platform-like environment: bare values are buckets of s3."""

    @classmethod
    def resolve_uri(cls, value: str, variable: str) -> str:
        return value if "://" in value else f"s3://{value}"


def test_subclasses_inherit_from_env_and_resolve_bare_values(tmp_path: Path) -> None:
    env = BucketEnvironment.from_env({"MLDOCK_INPUT_CHANNEL_T": "bucket/x"}, base_dir=tmp_path)
    assert isinstance(env, BucketEnvironment)
    assert str(env.channel("t").uri) == "s3://bucket/x"
    with pytest.raises(ChannelError, match="no URI scheme"):
        Environment.from_env({"MLDOCK_INPUT_CHANNEL_T": "bucket/x"}, base_dir=tmp_path)


_names = st.from_regex(r"[a-z0-9][a-z0-9_]{0,10}", fullmatch=True).filter(lambda n: n != "failure")


@settings(deadline=None)
@given(
    channels=st.dictionaries(st.tuples(st.sampled_from(list(ChannelKind)), _names), _names, max_size=5),
    stage=st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    extra=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True), st.text(max_size=10), max_size=3),
)
def test_from_env_to_environ_round_trip(
    channels: dict[tuple[ChannelKind, str], str], stage: str, extra: dict[str, str]
) -> None:
    environ = {channel_variable(kind, name): f"s3://bucket/{uri}" for (kind, name), uri in channels.items()}
    reserved = ("INPUT", "OUTPUT", "MODEL", "BASE_DIR", "PROJECT_DIR", "STAGE", "HYPERPARAMETERS")
    environ |= {f"MLDOCK_{k}": v for k, v in extra.items() if not k.startswith(reserved)}
    environ["MLDOCK_STAGE"] = stage
    env = Environment.from_env(environ, base_dir="/base")
    assert Environment.from_env(env.to_environ()) == env
