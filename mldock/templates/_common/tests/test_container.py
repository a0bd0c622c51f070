"""The container's own tests, through mldock's pytest plugin.

    pytest                              # the process runner: the entrypoint in a subprocess (fast)
    pytest --mldock-runner=docker       # the real image on the container engine
    pytest --mldock-stage=prod          # production verification against the real storage of stage prod

`mldock_storage` gives each test fresh emulated buckets for the stage's channels (inputs seeded from the
stage's `seed` folders); `mldock_container` runs the lifecycle and reads the outputs back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]


def test_training_writes_a_model_and_metrics(mldock_container: Any) -> None:
    result = mldock_container("train")
    result.assert_succeeded()
    model = json.loads(result.models["model"]["model.json"])
    assert set(model["centroids"]) == {"setosa", "versicolor", "virginica"}
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert metrics["rows"] == 150
    assert metrics["train_accuracy"] > 0.9


def test_hyperparameters_reach_the_training_step(mldock_container: Any) -> None:
    result = mldock_container("train", hyperparameters={"shrinkage": 1.0})  # every centroid = the overall mean
    result.assert_succeeded()
    metrics = json.loads(result.outputs["metrics"]["metrics.json"])
    assert metrics["train_accuracy"] < 0.5


def test_a_bad_hyperparameter_is_a_user_error(mldock_container: Any) -> None:
    result = mldock_container("train", hyperparameters={"shrinkage": 2})
    result.assert_failed(match="shrinkage must be between 0 and 1")
    assert result.exit_code == 2  # a user error, not a failed step


@pytest.mark.mldock(stage=["dev", "test"])
def test_training_without_rows_fails(mldock_storage: Any, mldock_container: Any) -> None:
    mldock_storage.input("train", {"empty.csv": "a,b,label\n"})
    result = mldock_container("train")
    result.assert_failed(match="no CSV rows")
    assert result.exit_code == 2


@pytest.mark.mldock(stage=["dev", "test"])
def test_serving_answers_json_and_csv(mldock_storage: Any, mldock_container: Any) -> None:
    trained = mldock_container("train")
    trained.assert_succeeded()
    mldock_storage.input_model("model", trained.models["model"])
    with mldock_container.serve() as endpoint:
        answer = endpoint.invoke(json.dumps({"instances": [SETOSA, VIRGINICA]}), "application/json")
        assert answer.status == 200, answer.text
        assert answer.json() == {"predictions": ["setosa", "virginica"]}
        answer = endpoint.invoke(",".join(map(str, SETOSA)) + "\n", "text/csv", accept="text/csv")
        assert answer.status == 200, answer.text
        assert answer.text.strip() == "setosa"
