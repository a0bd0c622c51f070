"""SageMaker's layout recognised with no MLDOCK_* variable: channels, hyperparameters, resources, folders,
read-only serving, stop budgets, and the deadline report of a cleanup that runs late."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Literal

import pytest

from mldock import contract
from mldock.errors import ChannelError, LifecycleError, UserError
from mldock.runtime.channels import ChannelKind
from mldock.runtime.containers import TrainingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.failure import Failure, reason_line
from mldock.runtime.lifecycle import Signals, StopBudget, run_cleanup
from mldock.runtime.sagemaker import is_sagemaker_channel, unquote_values
from mldock.runtime.stages import on_cleanup


def sagemaker_base(tmp_path: Path, channels: dict[str, dict[str, str]] | None = None) -> Path:
    """A base dir laid out as SageMaker's training (and the SDK's local mode) lays it out."""
    base = tmp_path / "ml"
    config = base / "input" / "config"
    config.mkdir(parents=True)
    channels = {"train": {"ContentType": "text/csv"}} if channels is None else channels
    (config / "inputdataconfig.json").write_text(json.dumps(channels))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    (config / "hyperparameters.json").write_text(
        json.dumps({"optimizer": '"adam"', "epochs": "10", "rate": "0.5", "layers": "[1, 2]", "raw": "plain"})
    )
    for name in channels:
        (base / "input" / "data" / name).mkdir(parents=True)
        (base / "input" / "data" / name / "a.csv").write_text("x\n1\n")
    return base


def test_input_channels_come_from_inputdataconfig_as_file_channels_onto_their_folders(tmp_path: Path) -> None:
    base = sagemaker_base(tmp_path)
    env = Environment.from_env({}, base_dir=base)
    train = env.channel("train")
    assert train.path == base / "input" / "data" / "train"
    assert str(train.uri) == train.path.as_uri()
    assert is_sagemaker_channel(train)
    assert env.input_channels == (train,)
    assert env.sagemaker is not None
    assert env.sagemaker.training


def test_an_empty_sagemaker_channel_is_an_empty_folder_not_an_error(tmp_path: Path) -> None:
    base = sagemaker_base(tmp_path, {"train": {}, "empty": {}})
    for file in (base / "input" / "data" / "empty").iterdir():
        file.unlink()
    env = Environment.from_env({}, base_dir=base)
    reports = TrainingContainer(env).download_inputs()
    assert [(r.files, r.bytes) for r in reports] == [(0, 0), (1, 4)]  # empty; train reported, nothing moved
    assert (base / "input" / "data" / "train" / "a.csv").read_text() == "x\n1\n"


def test_a_channel_folder_without_config_entry_is_a_channel_too(tmp_path: Path) -> None:
    base = sagemaker_base(tmp_path)
    (base / "input" / "data" / "extra").mkdir()
    env = Environment.from_env({}, base_dir=base)
    assert [c.name for c in env.input_channels] == ["extra", "train"]


def test_mldock_variables_win_on_the_same_name_and_add_remote_channels(tmp_path: Path) -> None:
    base = sagemaker_base(tmp_path)
    env = Environment.from_env(
        {"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://bucket/train", "MLDOCK_OUTPUT_CHANNEL_REPORT": "s3://bucket/report"},
        base_dir=base,
    )
    assert str(env.channel("train").uri) == "s3://bucket/train"
    assert env.channel("report", ChannelKind.OUTPUT).path == base / "output" / "report"
    assert [c.name for c in env.input_channels] == ["train"]


def test_model_and_output_channels_map_to_sagemakers_single_folders(tmp_path: Path) -> None:
    base = sagemaker_base(tmp_path)
    env = Environment.from_env({}, base_dir=base)
    assert env.channel("model", ChannelKind.OUTPUT_MODEL).path == base / "model"
    assert env.channel("other", ChannelKind.OUTPUT_MODEL).path == base / "model"
    assert env.channel("metrics", ChannelKind.OUTPUT).path == base / "output" / "data" / "metrics"
    assert env.channel("model", ChannelKind.INPUT_MODEL).path == base / "model"
    assert env.channel("train", ChannelKind.INPUT_MODEL).path == base / "input" / "data" / "train"
    assert env.output_channels == ()
    assert env.output_model_channels == ()
    assert env.sagemaker is not None
    assert env.sagemaker.checkpoint_dir == base / "checkpoints"


def test_a_missing_input_channel_says_both_ways_to_give_it(tmp_path: Path) -> None:
    env = Environment.from_env({}, base_dir=sagemaker_base(tmp_path))
    with pytest.raises(ChannelError, match=r"MLDOCK_INPUT_CHANNEL_VALID, or give SageMaker a 'valid' channel"):
        env.channel("valid")


def test_hyperparameters_lose_the_sdks_json_quotes_and_typed_reads_are_unchanged(tmp_path: Path) -> None:
    env = Environment.from_env({"MLDOCK_HYPERPARAMETERS": '{"epochs": 3}'}, base_dir=sagemaker_base(tmp_path))
    hp = env.hyperparameters
    assert hp["optimizer"] == "adam"
    assert hp.get("optimizer", str) == "adam"
    assert hp.require("epochs", int) == 3  # the variable still wins
    assert hp.require("rate", float) == 0.5
    assert hp.require("layers", list) == [1, 2]
    assert hp["raw"] == "plain"


@pytest.mark.parametrize(
    ("value", "expected"),
    [('"adam"', "adam"), ('"a\\"b"', 'a"b'), ('"', '"'), ('"x', '"x'), ('"1" "2"', '"1" "2"'), (5, 5), ("10", "10")],
    ids=["quoted", "escaped", "lone-quote", "unterminated", "two-strings", "number", "numeric-string"],
)
def test_unquote_values(value: object, expected: object) -> None:
    assert unquote_values({"k": value}) == {"k": expected}


def test_resourceconfig_gives_hosts_current_host_and_leader(tmp_path: Path) -> None:
    env = Environment.from_env({contract.SAGEMAKER_TRAINING_JOB_NAME: "job-1"}, base_dir=sagemaker_base(tmp_path))
    assert env.sagemaker is not None
    assert env.sagemaker.hosts == ("algo-1", "algo-2")
    assert env.sagemaker.current_host == "algo-2"
    assert not env.sagemaker.is_leader
    assert env.sagemaker.job_name == "job-1"
    assert "job-1" in repr(env)
    assert "algo-2" in repr(env)


@pytest.mark.parametrize(
    ("file", "text", "error", "match"),
    [
        ("resourceconfig.json", "{", LifecycleError, "resourceconfig.json: SageMaker's config file"),
        ("resourceconfig.json", '{"hosts": "a"}', LifecycleError, "current_host"),
        ("inputdataconfig.json", "[]", LifecycleError, "channel name -> settings"),
        ("inputdataconfig.json", '{"train": {"TrainingInputMode": "Pipe"}}', ChannelError, "Pipe input mode"),
        ("inputdataconfig.json", '{"bad name": {}}', ChannelError, "SageMaker channel 'bad name'"),
    ],
    ids=["resource-json", "resource-shape", "data-shape", "pipe", "bad-name"],
)
def test_bad_sagemaker_config_names_the_file(
    tmp_path: Path, file: str, text: str, error: type[Exception], match: str
) -> None:
    base = sagemaker_base(tmp_path)
    (base / "input" / "config" / file).write_text(text)
    with pytest.raises(error, match=match):
        Environment.from_env({}, base_dir=base)


def test_mldock_channel_variables_alone_mean_no_sagemaker(tmp_path: Path) -> None:
    env = Environment.from_env({"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://bucket/train"}, base_dir=tmp_path)
    assert env.sagemaker is None
    with pytest.raises(ChannelError, match="MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL"):
        env.channel("model", ChannelKind.OUTPUT_MODEL)


def test_hosting_with_no_variable_reads_the_model_where_sagemaker_unpacks_it(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    env = Environment.from_env({}, base_dir=tmp_path)
    assert env.sagemaker is not None
    assert not env.sagemaker.training
    assert env.channel("model", ChannelKind.INPUT_MODEL).path == tmp_path / "model"


def test_the_step_child_rebuilds_the_same_environment(tmp_path: Path) -> None:
    base = sagemaker_base(tmp_path)
    env = Environment.from_env({"MLDOCK_OUTPUT_CHANNEL_REPORT": "s3://bucket/report"}, base_dir=base)
    exported = env.to_environ()
    assert not any("TRAIN" in name for name in exported)  # SageMaker's channels are rebuilt from its files
    assert Environment.from_env(exported) == env


def test_serving_prepare_writes_nothing_below_the_base_dir(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text("{}")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    Environment.from_env({}, base_dir=tmp_path).prepare(serving=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_training_prepare_makes_the_output_data_folder_and_keeps_the_input(tmp_path: Path) -> None:
    base = sagemaker_base(tmp_path)
    Environment.from_env({}, base_dir=base).prepare()
    assert (base / "output" / "data").is_dir()
    assert (base / "input" / "data" / "train" / "a.csv").read_text() == "x\n1\n"


@pytest.mark.parametrize(
    ("environ", "task", "grace", "deadline"),
    [
        ({}, "train", 20.0, 120.0),
        ({}, "serve", 12.5, 30.0),
        ({"MLDOCK_STOP_DEADLINE_SECONDS": "15"}, "train", 5.0, 15.0),
        ({"MLDOCK_STOP_GRACE_SECONDS": "3"}, "serve", 3.0, 30.0),
    ],
    ids=["training", "endpoint", "deadline-variable", "short-grace"],
)
def test_stop_budget_fits_the_grace_into_the_deadline(
    tmp_path: Path, environ: dict[str, str], task: Literal["train", "serve"], grace: float, deadline: float
) -> None:
    budget = StopBudget.from_env(Environment.from_env({}, base_dir=sagemaker_base(tmp_path)), environ, task)
    assert (budget.grace, budget.deadline) == (grace, deadline)


def test_no_deadline_off_sagemaker_and_bad_values_are_named(tmp_path: Path) -> None:
    env = Environment.from_env({"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://bucket/train"}, base_dir=tmp_path)
    assert StopBudget.from_env(env, {}, "train").deadline is None
    with pytest.raises(UserError, match="MLDOCK_STOP_DEADLINE_SECONDS"):
        StopBudget.from_env(env, {"MLDOCK_STOP_DEADLINE_SECONDS": "soon"}, "train")


def test_serve_port_honours_sagemaker_bind_to_port() -> None:
    assert contract.serve_port({"SAGEMAKER_BIND_TO_PORT": "9001", "AIP_HTTP_PORT": "9002"}) == 9001
    assert contract.serve_port({"MLDOCK_SERVE_PORT": "9000", "SAGEMAKER_BIND_TO_PORT": "9001"}) == 9000
    with pytest.raises(UserError, match="SAGEMAKER_BIND_TO_PORT"):
        contract.serve_port({"SAGEMAKER_BIND_TO_PORT": "http"})


def test_the_reason_line_stays_within_what_sagemaker_shows() -> None:
    line = reason_line("ValueError", "x" * 5000)
    assert len(line) <= 512
    assert line.endswith("...")
    rendered = Failure(line, "step", 1, "Traceback ...").render()
    assert rendered[: contract.SAGEMAKER_FAILURE_LIMIT].startswith(line + "\nphase: step\nexit code: 1\n")


class SlowCleanup(TrainingContainer):
    release = threading.Event()

    @on_cleanup
    def wait_for_release(self) -> None:
        self.release.wait(30)


def test_cleanup_past_the_deadline_names_the_uploads_not_finished(tmp_path: Path) -> None:
    target = tmp_path / "remote"
    env = Environment.from_env({"MLDOCK_OUTPUT_CHANNEL_REPORT": target.as_uri()}, base_dir=tmp_path / "base")
    env.prepare()
    signals = Signals()
    signals.first_at = time.monotonic() - 100  # the stop signal arrived long ago
    signals.received.append(15)
    container = SlowCleanup(env)
    try:
        failure = run_cleanup(container, None, signals=signals, budget=StopBudget(1.0, 6.0))
    finally:
        SlowCleanup.release.set()
    assert failure is not None
    assert failure.reason == "cleanup did not finish before the stop deadline"
    assert failure.exit_code == 143
    assert f"not uploaded in time: output report ({target.as_uri()})" in failure.details


def test_cleanup_within_the_deadline_uploads_and_reports_nothing(tmp_path: Path) -> None:
    target = tmp_path / "remote"
    target.mkdir()
    env = Environment.from_env({"MLDOCK_OUTPUT_CHANNEL_REPORT": target.as_uri()}, base_dir=tmp_path / "base")
    env.prepare()
    (env.channel("report", ChannelKind.OUTPUT).path / "r.txt").write_text("ok")
    signals = Signals()
    signals.first_at = time.monotonic()
    earlier = Failure("ValueError: bad", "step", 1, "Traceback")
    assert run_cleanup(TrainingContainer(env), earlier, signals=signals, budget=StopBudget(1.0, 120.0)) == earlier
    assert (target / "r.txt").read_text() == "ok"
