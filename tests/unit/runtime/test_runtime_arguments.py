"""The container's command line (mldock.runtime.arguments) and the entrypoint around it: the no-task rule,
hyperparameters as `--name=value` arguments, channels as `--input-channel NAME=LOCATION`, and user errors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import UserError
from mldock.runtime import entrypoint
from mldock.runtime.arguments import CHANNEL_ARGUMENTS, Invocation, default_task, parse_arguments
from mldock.runtime.environment import Environment


@pytest.mark.parametrize(
    ("environ", "task", "why"),
    [
        pytest.param({}, "train", "default", id="nothing"),
        pytest.param({"MLDOCK_TASK": "serve"}, "serve", "MLDOCK_TASK", id="mldock-task"),
        pytest.param({"MLDOCK_TASK": "train", "AZUREML_MODEL_DIR": "/m"}, "train", "MLDOCK_TASK", id="task-wins"),
        pytest.param({"AIP_MODE": "PREDICTION"}, "serve", "AIP_MODE", id="aip-mode"),
        pytest.param({"AIP_HTTP_PORT": "8080"}, "serve", "AIP_HTTP_PORT", id="vertex-port"),
        pytest.param({"AIP_PREDICT_ROUTE": "/p"}, "serve", "AIP_PREDICT_ROUTE", id="vertex-route"),
        pytest.param({"AIP_STORAGE_URI": "gs://bkt/m"}, "serve", "AIP_STORAGE_URI", id="vertex-storage"),
        pytest.param({"AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/m/1"}, "serve", "AZUREML", id="azure"),
        pytest.param({"CLOUD_ML_JOB_ID": "123"}, "train", "CLOUD_ML_JOB_ID", id="vertex-job"),
        pytest.param({"AIP_MODEL_DIR": "gs://bkt/out/model/"}, "train", "AIP_MODEL_DIR", id="vertex-model-dir"),
        pytest.param({"AIP_HTTP_PORT": " "}, "train", "default", id="blank-is-unset"),
    ],
)
def test_the_no_task_rule(environ: dict[str, str], task: str, why: str) -> None:
    chosen, reason = default_task(environ)
    assert chosen == task
    assert why in reason


def test_mldock_task_must_be_a_task() -> None:
    with pytest.raises(UserError, match="MLDOCK_TASK: 'predict' is not a task"):
        default_task({"MLDOCK_TASK": "predict"})


def test_tuning_arguments_become_hyperparameters_with_typed_reads(tmp_path: Path) -> None:
    invocation = parse_arguments(["--learning_rate=0.1", "--layers", "3", "--offset", "-1"], {})
    assert invocation == Invocation("train", invocation.reason, {"learning_rate": "0.1", "layers": "3", "offset": "-1"})
    environ = invocation.environ({"MLDOCK_HYPERPARAMETERS": '{"layers": 1, "epochs": 5}'})
    env = Environment.from_env(environ, base_dir=tmp_path)
    assert env.hyperparameters.get("learning_rate", float) == 0.1
    assert env.hyperparameters.get("layers", int) == 3  # the command line wins
    assert env.hyperparameters.get("offset", int) == -1
    assert env.hyperparameters.get("epochs", int) == 5


def test_arguments_after_an_explicit_task() -> None:
    invocation = parse_arguments(["serve", "--lr=0.1"], {"AIP_MODEL_DIR": "gs://bkt/m"})
    assert (invocation.task, dict(invocation.hyperparameters)) == ("serve", {"lr": "0.1"})
    assert parse_arguments(["--lr=0.1"], {"AIP_HTTP_PORT": "8080"}).task == "serve"


def test_channel_arguments_become_file_channels(tmp_path: Path) -> None:
    argv = [
        "train",
        "--input-channel",
        "train=/mnt/azureml/cr/j/inputs/train",
        "--output-channel=metrics=/mnt/out/metrics dir",
        "--output-model-channel",
        "model=gs://bucket/models/run-1",
        "--epochs=3",
    ]
    invocation = parse_arguments(argv, {})
    assert dict(invocation.channels) == {
        "MLDOCK_INPUT_CHANNEL_TRAIN": "file:///mnt/azureml/cr/j/inputs/train",
        "MLDOCK_OUTPUT_CHANNEL_METRICS": "file:///mnt/out/metrics%20dir",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": "gs://bucket/models/run-1",
    }
    env = Environment.from_env(invocation.environ({}), base_dir=tmp_path)
    assert env.channel("train").uri.prefix == "/mnt/azureml/cr/j/inputs/train"
    assert env.channel("train").path == tmp_path / "input/data/train"
    assert dict(env.hyperparameters) == {"epochs": "3"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--verbose"], "'--verbose' has no value", id="bare-flag"),
        pytest.param(["--lr", "--x=1"], "'--lr' has no value", id="flag-then-flag"),
        pytest.param(["--lr=1", "--lr=2"], "given twice", id="twice"),
        pytest.param(["--=1"], "name is empty", id="empty-name"),
        pytest.param(["lr=1"], "not understood", id="no-dashes"),
        pytest.param(["-x"], "not understood", id="one-dash"),
        pytest.param(["--lr=1", "train"], "must be the first argument", id="task-later"),
        pytest.param(["--input-channel", "train"], "NAME=LOCATION", id="channel-without-name"),
        pytest.param(["--input-channel=train=data/x"], "neither an absolute path nor a URI", id="relative"),
        pytest.param(["--output-channel", "failure=/x"], "cannot be called 'failure'", id="reserved-name"),
        pytest.param(["--input-channel", "a b=/x"], "cannot be a folder name", id="bad-name"),
        pytest.param(["--input-channel", "t=/a", "--input-channel", "T=/b"], "given twice", id="channel-twice"),
    ],
)
def test_bad_arguments_are_user_errors_naming_the_argument(argv: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_arguments(argv, {})


def test_a_channel_set_by_variable_and_argument_is_refused() -> None:
    invocation = parse_arguments(["--input-channel", "train=/data"], {})
    with pytest.raises(UserError, match="MLDOCK_INPUT_CHANNEL_TRAIN is set"):
        invocation.environ({"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://bkt/t"})


def test_a_bad_hyperparameters_variable_is_named() -> None:
    invocation = parse_arguments(["--lr=1"], {})
    with pytest.raises(UserError, match="MLDOCK_HYPERPARAMETERS"):
        invocation.environ({"MLDOCK_HYPERPARAMETERS": "[1]"})


_NAMES = st.text(st.characters(codec="utf-8", exclude_characters="=\x00"), min_size=1, max_size=12).filter(
    lambda name: name == name.strip() and f"--{name}" not in CHANNEL_ARGUMENTS
)


@given(st.dictionaries(_NAMES, st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)))
def test_any_name_and_value_round_trip_through_the_environment(values: dict[str, str]) -> None:
    argv = [f"--{name}={value}" for name, value in values.items()]
    invocation = parse_arguments(argv, {})
    assert dict(invocation.hyperparameters) == values
    environ = invocation.environ({})
    if values:
        assert json.loads(environ["MLDOCK_HYPERPARAMETERS"]) == values
    else:
        assert "MLDOCK_HYPERPARAMETERS" not in environ


@given(st.lists(st.text(max_size=20), max_size=6))
def test_parsing_raises_nothing_but_user_errors(argv: list[str]) -> None:
    with contextlib.suppress(UserError):
        parse_arguments(argv, {})


def test_entrypoint_bad_argument_exits_2_with_a_failure_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = entrypoint.main(["--verbose"], environ={"MLDOCK_BASE_DIR": str(tmp_path)})
    assert code == 2
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith("UserError: argument '--verbose' has no value")
    assert "Traceback" not in capsys.readouterr().err


def test_entrypoint_unknown_task_word_exits_2(tmp_path: Path) -> None:
    assert entrypoint.main(["predict"], environ={"MLDOCK_BASE_DIR": str(tmp_path)}) == 2
    assert "'predict' is not understood" in (tmp_path / "output" / "failure").read_text()


def test_entrypoint_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert entrypoint.main(["--help"], environ={}) == 0
    assert entrypoint.main(["train", "-h"], environ={}) == 0
    assert "usage: mldock-entrypoint [train|serve]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("environ", "first_line"),
    [
        pytest.param({"MLDOCK_TASK": "predict"}, "UserError: MLDOCK_TASK: 'predict' is not a task", id="task"),
        pytest.param(
            {"AZUREML_MODEL_DIR": "models/1"},
            "ChannelError: AZUREML_MODEL_DIR: 'models/1' is not an absolute folder path",
            id="azureml-model-dir",
        ),
        pytest.param(
            {"AIP_MODEL_DIR": "bucket/model"}, "ChannelError: AIP_MODEL_DIR: 'bucket/model' has no URI scheme", id="aip"
        ),
        pytest.param(
            {"AIP_STORAGE_URI": "bq://p.d.t"}, "ChannelError: AIP_STORAGE_URI: 'bq://p.d.t' is a BigQuery", id="bq"
        ),
    ],
)
def test_entrypoint_bad_platform_values_exit_2_naming_the_variable(
    tmp_path: Path, environ: dict[str, str], first_line: str
) -> None:
    base = tmp_path / "ml"
    environ = {"MLDOCK_BASE_DIR": str(base), "MLDOCK_PROJECT_DIR": str(tmp_path), **environ}
    assert entrypoint.main([], environ=environ) == 2
    assert (base / "output" / "failure").read_text().startswith(first_line)
