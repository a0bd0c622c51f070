"""Vertex AI's and Azure ML's contracts recognised with no MLDOCK_* variable (mldock.runtime.vertex,
mldock.runtime.azureml), and Vertex AI's instances/predictions bodies (mldock.runtime.instances)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import ChannelError, UserError
from mldock.runtime.channels import ChannelKind
from mldock.runtime.containers import ServingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.instances import InstancesPredictor, parse_instances, predictions_response
from mldock.runtime.vertex import VertexLayout

VERTEX_TRAINING = {
    "CLOUD_ML_JOB_ID": "123",
    "CLOUD_ML_TRIAL_ID": "7",
    "AIP_MODEL_DIR": "gs://out/job/7/model/",
    "AIP_CHECKPOINT_DIR": "gs://out/job/7/checkpoints/",
    "AIP_TENSORBOARD_LOG_DIR": "gs://out/job/7/logs/",
    "AIP_TRAINING_DATA_URI": "gs://data/ds/training-*.csv",
    "AIP_VALIDATION_DATA_URI": "gs://data/ds/validation-*.csv",
    "AIP_TEST_DATA_URI": "gs://data/ds/test-*.csv",
    "AIP_DATA_FORMAT": "csv",
}


def test_vertex_training_variables_become_channels(tmp_path: Path) -> None:
    env = Environment.from_env(VERTEX_TRAINING, base_dir=tmp_path)
    channels = {(c.kind, c.name): (str(c.uri), c.path, c.variable) for c in env.channels}
    assert channels == {
        (ChannelKind.INPUT, "train"): (
            "gs://data/ds/training-*.csv",
            tmp_path / "input/data/train",
            "AIP_TRAINING_DATA_URI",
        ),
        (ChannelKind.INPUT, "validation"): (
            "gs://data/ds/validation-*.csv",
            tmp_path / "input/data/validation",
            "AIP_VALIDATION_DATA_URI",
        ),
        (ChannelKind.INPUT, "test"): ("gs://data/ds/test-*.csv", tmp_path / "input/data/test", "AIP_TEST_DATA_URI"),
        (ChannelKind.OUTPUT_MODEL, "model"): ("gs://out/job/7/model/", tmp_path / "model/model", "AIP_MODEL_DIR"),
        (ChannelKind.OUTPUT, "checkpoints"): (
            "gs://out/job/7/checkpoints/",
            tmp_path / "output/checkpoints",
            "AIP_CHECKPOINT_DIR",
        ),
        (ChannelKind.OUTPUT, "tensorboard"): (
            "gs://out/job/7/logs/",
            tmp_path / "output/tensorboard",
            "AIP_TENSORBOARD_LOG_DIR",
        ),
        (ChannelKind.OUTPUT, "outputs"): ("gs://out/job/7", tmp_path / "output/data", "AIP_MODEL_DIR"),
    }
    assert env.vertex is not None
    assert (env.vertex.job_id, env.vertex.trial_id, env.vertex.data_format, env.vertex.prediction) == (
        "123",
        "7",
        "csv",
        False,
    )
    assert env.sagemaker is None  # no MLDOCK_* channel variable, yet not SageMaker's fallback layout
    # any other output model name is the AIP_MODEL_DIR channel's folder
    wine = env.channel("wine", ChannelKind.OUTPUT_MODEL)
    assert (wine.path, str(wine.uri)) == (tmp_path / "model/model", "gs://out/job/7/model/")
    assert "123" in env.vertex.describe()
    # any other output channel is a folder below output/data, uploaded with it to the base output directory
    metrics = env.channel("metrics", ChannelKind.OUTPUT)
    assert (metrics.path, str(metrics.uri)) == (tmp_path / "output/data/metrics", "gs://out/job/7/metrics")
    with pytest.raises(ChannelError, match="'logs': gs://out/job/7/logs/ is Vertex AI's own folder"):
        env.channel("logs", ChannelKind.OUTPUT)


def test_without_aip_model_dir_there_is_no_place_for_other_outputs(tmp_path: Path) -> None:
    env = Environment.from_env({"CLOUD_ML_JOB_ID": "1"}, base_dir=tmp_path)
    assert env.channels == ()
    with pytest.raises(ChannelError, match="no output channel 'metrics'"):
        env.channel("metrics", ChannelKind.OUTPUT)


def test_the_child_process_rebuilds_the_same_channels(tmp_path: Path) -> None:
    env = Environment.from_env(VERTEX_TRAINING, base_dir=tmp_path)
    child = Environment.from_env(VERTEX_TRAINING | env.to_environ())  # the step inherits the AIP_* variables
    assert child.channels == env.channels
    assert not any("CHANNEL" in name for name in env.to_environ())  # rebuilt from AIP_*, not copied


def test_an_mldock_variable_wins_over_the_vertex_channel(tmp_path: Path) -> None:
    environ = VERTEX_TRAINING | {"MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": "s3://elsewhere/model"}
    env = Environment.from_env(environ, base_dir=tmp_path)
    assert str(env.channel("model", ChannelKind.OUTPUT_MODEL).uri) == "s3://elsewhere/model"
    assert len(env.output_model_channels) == 1
    assert "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL" in env.to_environ()


def test_vertex_prediction_downloads_aip_storage_uri_into_the_model_channel(tmp_path: Path) -> None:
    store = tmp_path / "store" / "model"
    store.mkdir(parents=True)
    (store / "weights.bin").write_bytes(b"w")
    environ = {"AIP_MODE": "PREDICTION", "AIP_STORAGE_URI": store.as_uri(), "AIP_HTTP_PORT": "8080"}
    env = Environment.from_env(environ, base_dir=tmp_path / "ml")
    assert env.vertex is not None
    assert env.vertex.prediction
    model = env.channel("model", ChannelKind.INPUT_MODEL)
    assert env.input_model_channels == (model,)
    env.prepare(serving=True)
    ServingContainer(env).download_inputs()
    assert (model.path / "weights.bin").read_bytes() == b"w"
    assert env.channel("wine", ChannelKind.INPUT_MODEL).path == model.path


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"AIP_TRAINING_DATA_URI": "bq://project.dataset.table", "AIP_DATA_FORMAT": "bigquery"},
            "AIP_TRAINING_DATA_URI: 'bq://project.dataset.table' is a BigQuery table (AIP_DATA_FORMAT=bigquery)",
            id="bigquery",
        ),
        pytest.param(
            {"AIP_MODEL_DIR": "bucket/model"}, "AIP_MODEL_DIR: 'bucket/model' has no URI scheme", id="no-scheme"
        ),
        pytest.param({"AIP_STORAGE_URI": "gs://Bad_Bucket/m"}, "AIP_STORAGE_URI: ", id="bad-bucket"),
        pytest.param({"AIP_CHECKPOINT_DIR": "ftp://host/x"}, "AIP_CHECKPOINT_DIR: ", id="bad-scheme"),
    ],
)
def test_bad_vertex_values_are_channel_errors_naming_the_variable(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ChannelError) as info:
        Environment.from_env(environ, base_dir=tmp_path)
    assert str(info.value).startswith(message)


def test_no_vertex_variable_no_layout(tmp_path: Path) -> None:
    assert VertexLayout.detect({"AIP_DATA_FORMAT": "csv", "AIP_HTTP_PORT": " "}, tmp_path) is None


@given(
    st.dictionaries(st.sampled_from([*sorted(VERTEX_TRAINING), "AIP_STORAGE_URI", "AIP_MODE"]), st.text(max_size=30))
)
def test_vertex_detection_raises_nothing_but_channel_errors(environ: dict[str, str]) -> None:
    with contextlib.suppress(ChannelError):
        VertexLayout.detect(environ, Path("/opt/ml"))


# -- Azure ML ---------------------------------------------------------------------------------------------


def test_azureml_model_dir_is_the_input_model_channel_read_where_it_is(tmp_path: Path) -> None:
    mount = tmp_path / "var/azureml-app/azureml-models/wine/3"
    mount.mkdir(parents=True)
    (mount / "model.joblib").write_bytes(b"m")
    env = Environment.from_env({"AZUREML_MODEL_DIR": str(mount)}, base_dir=tmp_path / "ml")
    assert env.azureml is not None
    assert env.sagemaker is None
    model = env.channel("model", ChannelKind.INPUT_MODEL)
    assert (model.path, model.uri.prefix, model.variable) == (mount, str(mount), "AZUREML_MODEL_DIR")
    (mount / "model").mkdir()  # a model registered from a folder called "model" (the environment is read once)
    env = Environment.from_env({"AZUREML_MODEL_DIR": str(mount)}, base_dir=tmp_path / "ml")
    assert env.channel("model", ChannelKind.INPUT_MODEL).path == mount / "model"
    with pytest.raises(ChannelError, match="no output channel"):
        env.channel("model", ChannelKind.OUTPUT)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("models/1", "AZUREML_MODEL_DIR: 'models/1' is not an absolute folder path", id="relative"),
        pytest.param("/no/such/folder", "AZUREML_MODEL_DIR: /no/such/folder is not a folder", id="missing"),
    ],
)
def test_bad_azureml_model_dir_is_a_channel_error(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ChannelError, match=message):
        Environment.from_env({"AZUREML_MODEL_DIR": value}, base_dir=tmp_path)


# -- instances / predictions ------------------------------------------------------------------------------


class Doubler(InstancesPredictor):
    def predict_instances(self, instances: list[Any], parameters: Any) -> list[Any]:
        factor = (parameters or {}).get("factor", 2)
        return [x * factor for x in instances]


def test_instances_predictor_answers_predictions() -> None:
    answer = Doubler().predict(b'{"instances": [1, 2], "parameters": {"factor": 3}}', "application/json", "*/*")
    assert answer == {"predictions": [3, 6]}
    assert Doubler().predict(b'{"instances": []}', "application/json", "*/*") == {"predictions": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"not json", "the body is not JSON", id="not-json"),
        pytest.param(b"[1, 2]", "not an object", id="array"),
        pytest.param(b'{"inputs": [1]}', 'no "instances" key', id="no-instances"),
        pytest.param(b'{"instances": {"a": 1}}', '"instances" is dict, not a list', id="not-a-list"),
        pytest.param(b'{"instances": [1], "extra": 1}', "unknown key(s) 'extra'", id="unknown-key"),
    ],
)
def test_bad_bodies_are_user_errors_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_instances(body)
    assert message in str(info.value)


def test_a_wrong_prediction_count_is_a_server_error() -> None:
    class Short(InstancesPredictor):
        def predict_instances(self, instances: list[Any], parameters: Any) -> list[Any]:
            return instances[:1]

    with pytest.raises(ValueError, match="1 prediction"):
        Short().predict(b'{"instances": [1, 2]}', "application/json", "*/*")


def test_extra_answer_keys_and_reserved_ones() -> None:
    class WithExtra(InstancesPredictor):
        def predict_instances(self, instances: list[Any], parameters: Any) -> dict[str, Any]:
            return {"predictions": instances, "explanations": ["x"] * len(instances)}

    assert WithExtra().predict(b'{"instances": [1]}', "", "") == {"predictions": [1], "explanations": ["x"]}
    with pytest.raises(TypeError, match="deployedModelId"):
        predictions_response([1], deployedModelId="1")


@given(st.binary(max_size=64))
def test_parse_instances_raises_nothing_but_user_errors(body: bytes) -> None:
    try:
        request = parse_instances(body)
    except UserError:
        return
    assert json.loads(body)["instances"] == request.instances
