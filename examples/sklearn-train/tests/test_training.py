"""The training container, through mldock's pytest plugin: input from (emulated) GCS, model to S3, metrics to
Azure Blob, hyperparameters from mldock.json and from the test.

    pytest examples/sklearn-train                            # process runner
    pytest examples/sklearn-train --mldock-runner=docker     # the built image
"""

from __future__ import annotations

import io
import json
from typing import Any

import joblib
import pytest


def test_trains_from_gcs_to_s3_and_azure(mldock_container: Any) -> None:
    result = mldock_container("train")
    result.assert_succeeded()
    assert result.environment["MLDOCK_INPUT_CHANNEL_TRAIN"].startswith("gs://")
    assert result.environment["MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL"].startswith("s3://")
    assert result.environment["MLDOCK_OUTPUT_CHANNEL_METRICS"].startswith("az://")
    assert set(result.models["model"]) == {"model.joblib", "signature.json"}
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert metrics["accuracy"] > 0.85
    assert metrics["rows_train"] + metrics["rows_test"] == 178


def test_the_model_is_a_fitted_forest_with_the_stage_hyperparameters(mldock_container: Any, mldock_stage: Any) -> None:
    result = mldock_container("train")
    result.assert_succeeded()
    model = joblib.load(io.BytesIO(result.models["model"]["model.joblib"]))
    assert model.n_estimators == mldock_stage.hyperparameters["n_estimators"]
    assert len(model.estimators_) == model.n_estimators
    signature = json.loads(result.models["model"]["signature.json"])
    assert signature["classes"] == ["class_0", "class_1", "class_2"]
    assert len(signature["features"]) == 13


def test_hyperparameters_from_the_test_override_the_stage(mldock_container: Any) -> None:
    result = mldock_container("train", hyperparameters={"n_estimators": 3, "max_depth": 1})
    result.assert_succeeded()
    model = joblib.load(io.BytesIO(result.models["model"]["model.joblib"]))
    assert (model.n_estimators, model.max_depth) == (3, 1)
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert metrics["hyperparameters"]["n_estimators"] == 3


@pytest.mark.mldock(stage=["dev", "test"])
def test_the_run_is_recorded_beside_the_metrics(mldock_container: Any, mldock_stage: Any) -> None:
    result = mldock_container("train", hyperparameters={"n_estimators": 5})
    result.assert_succeeded()
    run = json.loads(result.outputs["metrics"]["run.json"])
    assert run["stage"] == mldock_stage.name
    assert run["hyperparameters"]["n_estimators"] == 5


@pytest.mark.mldock(stage=["dev", "test"])
def test_a_non_numeric_feature_fails_and_still_uploads_the_run_record(
    mldock_storage: Any, mldock_container: Any
) -> None:
    mldock_storage.input("train", {"bad.csv": "a,b,label\n1,oops,x\n2,3,y\n"})
    result = mldock_container("train")
    result.assert_failed(match="not a number")
    assert result.exit_code == 2  # bad data is a user error
    assert "model" not in result.models or not result.models["model"]
    assert "run.json" in result.outputs["metrics"]


@pytest.mark.mldock(stage=["dev", "test"])
def test_an_empty_input_channel_fails_before_training(mldock_storage: Any, mldock_container: Any) -> None:
    mldock_storage.input("train", {"notes.txt": "no csv here"})
    result = mldock_container("train")
    result.assert_failed(match="holds no CSV file")
    assert result.exit_code == 2


def test_a_bad_hyperparameter_is_a_user_error(mldock_container: Any) -> None:
    result = mldock_container("train", hyperparameters={"test_size": 2})
    result.assert_failed(match="test_size must be between 0 and 1")
    assert result.exit_code == 2
