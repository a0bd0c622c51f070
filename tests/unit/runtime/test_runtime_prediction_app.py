"""The WSGI app: readiness, routes, predict() results and errors, body limits, configuration."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from mldock.errors import UserError
from mldock.runtime.environment import Environment
from mldock.runtime.prediction_app import PredictionApp, ServeConfig, encode_result


class Predictor:
    healthy = True

    def predict(self, body: bytes, content_type: str, accept: str) -> Any:
        if body == b"user":
            raise UserError("bad input")
        if body == b"boom":
            raise ValueError("secret internals")
        if body == b"tuple":
            return b"a,b", "text/csv"
        return {"body": body.decode(), "content_type": content_type, "accept": accept}

    def ping(self) -> bool:
        return self.healthy


def call(
    app: PredictionApp, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(response_headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **headers,
    }
    payload = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], payload


@pytest.fixture
def app() -> PredictionApp:
    return PredictionApp(ServeConfig(health_routes=frozenset({"/ping", "/health"}), max_body_bytes=100))


def test_ping_is_503_until_the_predictor_is_set(app: PredictionApp) -> None:
    assert call(app, "GET", "/ping")[0] == 503
    assert call(app, "POST", "/invocations", b"{}")[0] == 503
    app.set_predictor(Predictor())
    assert call(app, "GET", "/ping")[0] == 200
    assert call(app, "GET", "/health")[0] == 200


def test_ping_follows_the_predictors_ping(app: PredictionApp) -> None:
    predictor = Predictor()
    predictor.healthy = False
    app.set_predictor(predictor)
    assert call(app, "GET", "/ping")[0] == 503


def test_invocations_pass_body_and_headers(app: PredictionApp) -> None:
    app.set_predictor(Predictor())
    status, headers, body = call(
        app, "POST", "/invocations", b'{"x": 1}', CONTENT_TYPE="application/json", HTTP_ACCEPT="application/json"
    )
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert json.loads(body) == {"body": '{"x": 1}', "content_type": "application/json", "accept": "application/json"}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        pytest.param(b"user", 400, b"bad input", id="user-error"),
        pytest.param(b"boom", 500, b"ValueError", id="exception"),
        pytest.param(b"x" * 101, 413, b"over 100 bytes", id="too-large"),
    ],
)
def test_errors_are_json(app: PredictionApp, body: bytes, status: int, fragment: bytes) -> None:
    app.set_predictor(Predictor())
    got_status, headers, payload = call(app, "POST", "/invocations", body)
    assert (got_status, headers["Content-Type"]) == (status, "application/json")
    assert fragment in payload
    assert b"secret internals" not in payload
    assert b"Traceback" not in payload


def test_tuple_results_set_the_content_type(app: PredictionApp) -> None:
    app.set_predictor(Predictor())
    assert call(app, "POST", "/invocations", b"tuple")[1:] == (
        {"Content-Type": "text/csv", "Content-Length": "3"},
        b"a,b",
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/nope", 404, id="unknown"),
        pytest.param("POST", "/ping", 405, id="post-ping"),
        pytest.param("GET", "/invocations", 405, id="get-invocations"),
    ],
)
def test_routing(app: PredictionApp, method: str, path: str, status: int) -> None:
    assert call(app, method, path)[0] == status


@pytest.mark.parametrize(
    ("result", "accept", "expected"),
    [
        pytest.param(b"\x00", "*/*", (b"\x00", "application/octet-stream"), id="bytes"),
        pytest.param(b"\x00", "image/png", (b"\x00", "image/png"), id="bytes-accept"),
        pytest.param("hi", "*/*", (b"hi", "text/plain; charset=utf-8"), id="str"),
        pytest.param([1], "*/*", (b"[1]", "application/json"), id="list"),
        pytest.param(({"a": 1}, "application/x"), "*/*", (b'{"a": 1}', "application/x"), id="tuple"),
    ],
)
def test_encode_result(result: Any, accept: str, expected: tuple[bytes, str]) -> None:
    assert encode_result(result, accept) == expected


def test_encode_result_refuses_other_types() -> None:
    with pytest.raises(TypeError, match="returned NoneType"):
        encode_result(None)


def test_config_from_env(tmp_path: Path) -> None:
    env = Environment.from_env({"MLDOCK_SERVE_THREADS": "8"}, base_dir=tmp_path)
    aip = {"AIP_HTTP_PORT": "9000", "AIP_HEALTH_ROUTE": "/health", "AIP_PREDICT_ROUTE": "/v1/m:predict"}
    config = ServeConfig.from_env(env, aip)
    assert (config.port, config.threads) == (9000, 8)
    assert config.health_routes == {"/ping", "/health"}
    assert config.predict_routes == {"/invocations", "/v1/m:predict"}
    override = Environment.from_env({"MLDOCK_SERVE_PORT": "7000"}, base_dir=tmp_path)
    assert ServeConfig.from_env(override, aip).port == 7000
    assert ServeConfig.from_env(Environment.from_env({}, base_dir=tmp_path), {}).port == 8080


@pytest.mark.parametrize(
    ("settings", "environ", "variable"),
    [
        pytest.param({"MLDOCK_SERVE_PORT": "http"}, {}, "MLDOCK_SERVE_PORT", id="port-word"),
        pytest.param({}, {"AIP_HTTP_PORT": "70000"}, "AIP_HTTP_PORT", id="port-range"),
        pytest.param({}, {"AIP_HEALTH_ROUTE": "health"}, "AIP_HEALTH_ROUTE", id="route"),
        pytest.param({"MLDOCK_SERVE_THREADS": "0"}, {}, "MLDOCK_SERVE_THREADS", id="threads"),
    ],
)
def test_bad_config_names_the_variable(
    tmp_path: Path, settings: dict[str, str], environ: dict[str, str], variable: str
) -> None:
    env = Environment.from_env(settings, base_dir=tmp_path)
    with pytest.raises(UserError, match=variable):
        ServeConfig.from_env(env, environ)
