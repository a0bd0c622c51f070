"""Serving routes on each platform (mldock.runtime.prediction_app): Vertex AI's equal health and predict
routes, Azure ML's liveness and scoring routes and port, SageMaker's /ping and /invocations beside them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from mldock.runtime.environment import Environment
from mldock.runtime.prediction_app import PredictionApp, ServeConfig


class Predictor:
    def predict(self, body: bytes, content_type: str, accept: str) -> Any:
        return {"body": body.decode()}


def call(
    app: PredictionApp, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = int(status.split()[0]), dict(response_headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)), **headers}
    payload = b"".join(app({**environ, "wsgi.input": io.BytesIO(body)}, start_response))
    return captured["status"], captured["headers"], payload


def _app(tmp_path: Path, environ: dict[str, str]) -> PredictionApp:
    return PredictionApp(ServeConfig.from_env(Environment.from_env({}, base_dir=tmp_path), environ))


def test_equal_vertex_routes_get_is_health_and_post_is_predict(tmp_path: Path) -> None:
    route = "/v1/endpoints/1/deployedModels/2"
    app = _app(tmp_path, {"AIP_HEALTH_ROUTE": route, "AIP_PREDICT_ROUTE": route})
    assert call(app, "GET", route)[0] == 503
    assert call(app, "POST", route, b"{}")[0] == 503
    app.set_predictor(Predictor())
    assert call(app, "GET", route)[0] == 200
    assert call(app, "HEAD", route)[0] == 200
    status, _, body = call(app, "POST", route, b"x", CONTENT_TYPE="application/json")
    assert (status, json.loads(body)["body"]) == (200, "x")
    status, headers, _ = call(app, "PUT", route, b"x")
    assert (status, headers["Allow"]) == (405, "GET, HEAD, POST")
    # the defaults keep working beside them
    assert call(app, "GET", "/ping")[0] == 200
    assert call(app, "POST", "/invocations", b"y")[0] == 200
    assert call(app, "GET", "/invocations")[0] == 405


def test_azure_liveness_is_alive_during_startup_and_score_predicts(tmp_path: Path) -> None:
    app = _app(tmp_path, {"AZUREML_MODEL_DIR": str(tmp_path)})
    assert app.config.port == 5001
    status, _, body = call(app, "GET", "/")
    assert (status, json.loads(body)) == (200, {"status": "alive", "ready": False})
    assert call(app, "GET", "/ping")[0] == 503  # readiness
    assert call(app, "POST", "/score", b"{}")[0] == 503
    app.set_predictor(Predictor())
    assert json.loads(call(app, "GET", "/")[2]) == {"status": "alive", "ready": True}
    assert call(app, "GET", "/ping")[0] == 200
    status, _, body = call(app, "POST", "/score", b"z")
    assert (status, json.loads(body)["body"]) == (200, "z")
    assert call(app, "POST", "/", b"z")[0] == 405
    assert call(app, "GET", "/score")[0] == 405


@pytest.mark.parametrize(
    ("environ", "port"),
    [
        pytest.param({}, 8080, id="default"),
        pytest.param({"AZUREML_MODEL_DIR": "/m"}, 5001, id="azure"),
        pytest.param({"AZUREML_MODEL_DIR": "/m", "MLDOCK_SERVE_PORT": "9000"}, 9000, id="azure-told-otherwise"),
        pytest.param({"AZUREML_MODEL_DIR": "/m", "AIP_HTTP_PORT": "7000"}, 7000, id="vertex-port-first"),
    ],
)
def test_port_by_platform(tmp_path: Path, environ: dict[str, str], port: int) -> None:
    settings = {k: v for k, v in environ.items() if k.startswith("MLDOCK_")}
    env = Environment.from_env(settings, base_dir=tmp_path)
    others: dict[str, Any] = {k: v for k, v in environ.items() if not k.startswith("MLDOCK_")}
    assert ServeConfig.from_env(env, others).port == port


def test_a_health_route_that_is_the_liveness_route_answers_readiness(tmp_path: Path) -> None:
    app = _app(tmp_path, {"AIP_HEALTH_ROUTE": "/"})
    assert call(app, "GET", "/")[0] == 503
