"""The serving container, through mldock's pytest plugin: a model in (emulated) S3, /invocations in JSON and CSV.

The model is made here the way examples/sklearn-train makes it (a random forest on scikit-learn's bundled
wine data, no download), so these tests do not depend on a training run.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import joblib
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
EXPECTED = ["class_0", "class_1", "class_2"]  # the three rows of payloads/wine.*


@pytest.fixture(scope="module")
def model_files() -> dict[str, bytes]:
    data = load_wine()
    names = [n.replace("/", "_").replace(" ", "_") for n in data.feature_names]
    labels = [str(data.target_names[t]) for t in data.target]
    model = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(data.data, labels)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    signature = {"features": names, "classes": [str(c) for c in model.classes_]}
    return {"model.joblib": buffer.getvalue(), "signature.json": json.dumps(signature).encode()}


@pytest.fixture
def endpoint(mldock_storage: Any, mldock_container: Any, model_files: dict[str, bytes]) -> Any:
    mldock_storage.input_model("model", model_files)
    with mldock_container.serve() as live:
        yield live


pytestmark = pytest.mark.mldock(stage=["dev", "test"])


def test_answers_json(endpoint: Any) -> None:
    answer = endpoint.invoke((PAYLOADS / "wine.json").read_bytes(), "application/json")
    assert answer.status == 200, answer.text
    body = answer.json()
    assert body["predictions"] == EXPECTED
    assert all(abs(sum(p) - 1) < 1e-3 for p in body["probabilities"])


def test_answers_csv_with_csv(endpoint: Any) -> None:
    answer = endpoint.invoke((PAYLOADS / "wine.csv").read_bytes(), "text/csv", accept="text/csv")
    assert answer.status == 200, answer.text
    assert answer.content_type.startswith("text/csv")
    assert answer.text.split() == EXPECTED


def test_accepts_a_csv_header_and_objects_by_feature_name(endpoint: Any, model_files: dict[str, bytes]) -> None:
    features = json.loads(model_files["signature.json"])["features"]
    rows = list(csv.reader(io.StringIO((PAYLOADS / "wine.csv").read_text())))
    with_header = "\n".join([",".join(features), *(",".join(r) for r in rows)])
    assert endpoint.invoke(with_header, "text/csv").json()["predictions"] == EXPECTED
    objects = {"instances": [dict(zip(features, map(float, r), strict=True)) for r in rows]}
    assert endpoint.invoke(json.dumps(objects), "application/json").json()["predictions"] == EXPECTED


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        pytest.param(b"not json", "application/json", "instances", id="not-json"),
        pytest.param(b'{"instances": [[1, 2]]}', "application/json", "needs 13 features", id="short-row"),
        pytest.param(b"1,2,x,4,5,6,7,8,9,10,11,12,13\n", "text/csv", "not a number", id="csv-text"),
    ],
)
def test_a_bad_payload_is_a_400_saying_why(endpoint: Any, body: bytes, content_type: str, message: str) -> None:
    answer = endpoint.invoke(body, content_type)
    assert answer.status == 400
    assert message in answer.text


def test_a_model_channel_without_the_model_never_turns_healthy(mldock_storage: Any, mldock_container: Any) -> None:
    from mldock.errors import RunnerError

    mldock_storage.input_model("model", {"README.txt": "nothing here"})
    with pytest.raises(RunnerError, match=r"lacks model\.joblib"), mldock_container.serve(ready_timeout=60):
        pass
