"""The WSGI app: readiness, routes, predict() results and errors, body limits, configuration; and the serving
loop's pieces that need no socket (mldock.runtime.serve): health routing, connection guard, rate-limited logs."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mldock.errors import UserError
from mldock.runtime import serve
from mldock.runtime.environment import Environment
from mldock.runtime.prediction_app import PredictionApp, ServeConfig, encode_result
from mldock.runtime.serve import RateLimitFilter


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
    assert config.predict_routes == {"/invocations", "/v1/m:predict", "/score"}
    override = Environment.from_env({"MLDOCK_SERVE_PORT": "7000"}, base_dir=tmp_path)
    assert ServeConfig.from_env(override, aip).port == 7000
    assert ServeConfig.from_env(Environment.from_env({}, base_dir=tmp_path), {}).port == 8080


def test_serving_limits_from_env_and_defaults(tmp_path: Path) -> None:
    settings = {
        "MLDOCK_SERVE_CONNECTION_LIMIT": "7",
        "MLDOCK_SERVE_HEADER_TIMEOUT": "2.5",
        "MLDOCK_SERVE_BODY_TIMEOUT": " 30 ",
        "MLDOCK_SERVE_IDLE_TIMEOUT": "90",
    }
    config = ServeConfig.from_env(Environment.from_env(settings, base_dir=tmp_path), {})
    assert (config.connection_limit, config.header_timeout, config.body_timeout, config.idle_timeout) == (
        7,
        2.5,
        30,
        90,
    )
    default = ServeConfig.from_env(Environment.from_env({}, base_dir=tmp_path), {})
    assert (default.connection_limit, default.header_timeout, default.body_timeout, default.idle_timeout) == (
        100,
        10,
        60,
        120,
    )


@pytest.mark.parametrize(
    ("settings", "environ", "variable"),
    [
        pytest.param({"MLDOCK_SERVE_PORT": "http"}, {}, "MLDOCK_SERVE_PORT", id="port-word"),
        pytest.param({}, {"AIP_HTTP_PORT": "70000"}, "AIP_HTTP_PORT", id="port-range"),
        pytest.param({}, {"AIP_HEALTH_ROUTE": "health"}, "AIP_HEALTH_ROUTE", id="route"),
        pytest.param({"MLDOCK_SERVE_THREADS": "0"}, {}, "MLDOCK_SERVE_THREADS", id="threads"),
        pytest.param({"MLDOCK_SERVE_CONNECTION_LIMIT": "0"}, {}, "MLDOCK_SERVE_CONNECTION_LIMIT", id="limit"),
        pytest.param({"MLDOCK_SERVE_HEADER_TIMEOUT": "soon"}, {}, "MLDOCK_SERVE_HEADER_TIMEOUT", id="header-word"),
        pytest.param({"MLDOCK_SERVE_BODY_TIMEOUT": "0"}, {}, "MLDOCK_SERVE_BODY_TIMEOUT", id="body-zero"),
        pytest.param({"MLDOCK_SERVE_IDLE_TIMEOUT": "nan"}, {}, "MLDOCK_SERVE_IDLE_TIMEOUT", id="idle-nan"),
    ],
)
def test_bad_config_names_the_variable(
    tmp_path: Path, settings: dict[str, str], environ: dict[str, str], variable: str
) -> None:
    env = Environment.from_env(settings, base_dir=tmp_path)
    with pytest.raises(UserError, match=variable):
        ServeConfig.from_env(env, environ)


# -- mldock.runtime.serve: the parts that need no socket ------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, name: str = "waitress.queue") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, args, None)


def test_rate_limit_lets_one_line_through_per_interval_with_the_count_held_back() -> None:
    clock = Clock()
    rate_limit = RateLimitFilter(10.0, clock=clock)
    passed = [rate_limit.filter(record("Task queue depth is %d", depth)) for depth in range(1, 1001)]
    assert passed.count(True) == 1  # the first one
    clock.now = 10.0
    line = record("Task queue depth is %d", 7)
    assert rate_limit.filter(line)
    assert line.getMessage() == "Task queue depth is 7 (and 999 more like it since the last one)"
    assert not rate_limit.filter(record("Task queue depth is %d", 8))
    clock.now = 25.0
    quiet = record("Task queue depth is %d", 9)
    assert rate_limit.filter(quiet)
    assert quiet.getMessage() == "Task queue depth is 9 (and 1 more like it since the last one)"


def test_rate_limit_counts_each_message_template_on_its_own() -> None:
    rate_limit = RateLimitFilter(10.0, clock=Clock())
    assert rate_limit.filter(record("Task queue depth is %d", 1))
    assert rate_limit.filter(record("serve: closed %d connection(s)", 3, name="mldock.serve.connections"))
    assert rate_limit.filter(record("another line"))
    assert not rate_limit.filter(record("Task queue depth is %d", 2))


def test_rate_limit_on_a_logger_suppresses_the_flood(caplog: pytest.LogCaptureFixture) -> None:
    queue_log = logging.getLogger("waitress.queue")
    rate_limit = RateLimitFilter(3600.0)
    queue_log.addFilter(rate_limit)
    try:
        with caplog.at_level(logging.WARNING, logger="waitress.queue"):
            for depth in range(500):
                queue_log.warning("Task queue depth is %d", depth)
    finally:
        queue_log.removeFilter(rate_limit)
    assert [r.getMessage() for r in caplog.records] == ["Task queue depth is 0"]


class Pool:
    def __init__(self) -> None:
        self.queue: list[Any] = []
        self.active_count = 0

    def add_task(self, channel: Any) -> None:
        self.queue.append(channel)


def channel(
    *,
    requests: list[Any] | None = None,
    request: Any = None,
    outbuf: int = 0,
    last_activity: float = 0.0,
    closing: bool = False,
) -> SimpleNamespace:
    return SimpleNamespace(
        requests=requests or [],
        request=request,
        total_outbufs_len=outbuf,
        last_activity=last_activity,
        will_close=closing,
        close_when_flushed=False,
    )


def parsed(path: str = "/invocations", error: object = None, command: str = "GET") -> SimpleNamespace:
    return SimpleNamespace(path=path, error=error, command=command)


@pytest.mark.parametrize(
    ("request_", "pool"),
    [
        pytest.param(parsed("/ping"), "health", id="ping"),
        pytest.param(parsed("/health"), "health", id="aip-health-route"),
        pytest.param(parsed("/health", command="HEAD"), "health", id="head"),
        pytest.param(parsed("/health", command="POST"), "workers", id="post-on-a-health-route-that-predicts"),
        pytest.param(parsed("/x", error=ValueError("bad request")), "health", id="waitress-error"),
        pytest.param(parsed("/invocations"), "workers", id="prediction"),
        pytest.param(parsed("/nowhere"), "workers", id="other"),
    ],
)
def test_health_checks_and_waitress_errors_go_to_their_own_threads(request_: Any, pool: str) -> None:
    workers, health = Pool(), Pool()
    dispatcher = serve._Dispatcher(workers, health, frozenset({"/ping", "/health"}))
    conn = channel(requests=[request_, parsed("/invocations")])
    dispatcher.add_task(conn)
    assert {"health": health, "workers": workers}[pool].queue == [conn]
    assert dispatcher.busy() == 1


def test_over_the_limit_the_longest_waiting_connection_without_a_request_in_service_goes_first() -> None:
    busy = channel(requests=[parsed()], last_activity=1)
    idle_old, idle_new = channel(last_activity=2), channel(last_activity=50)
    arriving_old = channel(request=SimpleNamespace(started=100.0), last_activity=99)
    arriving_new = channel(request=SimpleNamespace(started=200.0), last_activity=99)
    sending = channel(outbuf=10, last_activity=0)
    closing = channel(closing=True)
    newest = channel(last_activity=1000)
    everyone = [busy, sending, idle_new, arriving_new, closing, idle_old, arriving_old, newest]
    order = [arriving_old, arriving_new, idle_old, idle_new, sending]
    for limit in range(7, 1, -1):  # 7 open connections (one is closing already)
        assert serve._evictions(everyone, newest, limit) == order[: 7 - limit]
    assert serve._evictions(everyone, newest, 1) == order  # never the busy one nor the newest


def test_no_room_is_made_when_every_connection_is_busy() -> None:
    busy = [channel(requests=[parsed()]) for _ in range(3)]
    newest = channel()
    assert serve._evictions([*busy, newest], newest, 2) == []


@pytest.mark.parametrize(
    ("conn", "late"),
    [
        pytest.param(channel(request=SimpleNamespace(started=0.0, headers_done=None)), True, id="headers-late"),
        pytest.param(channel(request=SimpleNamespace(started=95.0, headers_done=None)), False, id="headers-in-time"),
        pytest.param(channel(request=SimpleNamespace(started=0.0, headers_done=1.0)), True, id="body-late"),
        pytest.param(channel(request=SimpleNamespace(started=0.0, headers_done=50.0)), False, id="body-in-time"),
        pytest.param(
            channel(request=SimpleNamespace(started=0.0, headers_done=None), requests=[parsed()]), False, id="busy"
        ),
        pytest.param(channel(), False, id="idle"),
    ],
)
def test_header_and_body_deadlines(conn: SimpleNamespace, late: bool) -> None:
    limits = serve._Limits(connections=10, header_timeout=10.0, body_timeout=60.0)
    assert serve._late(conn, limits, now=100.0) is late


def test_in_flight_counts_queued_running_arriving_and_unsent_requests() -> None:
    channels = [
        channel(requests=[parsed(), parsed()]),  # one running, one queued behind it on a keep-alive connection
        channel(request=SimpleNamespace(started=0.0)),  # still arriving
        channel(outbuf=10),  # answered, not yet sent
        channel(),  # idle keep-alive
    ]
    assert serve._in_flight(channels) == 4
    assert serve._in_flight([channel(), channel()]) == 0


class ContextPredictor:
    def predict(self, body: bytes, content_type: str, accept: str, *, context: Any) -> Any:
        return {
            "attributes": context.custom_attributes,
            "accept": context.accept,
            "model": context.headers.get("x-model"),
        }

    def execution_parameters(self) -> dict[str, Any]:
        return {"BatchStrategy": "SINGLE_RECORD"}


def test_custom_attributes_and_headers_reach_a_predictor_that_takes_a_context(app: PredictionApp) -> None:
    app.set_predictor(ContextPredictor())
    status, _, payload = call(
        app,
        "POST",
        "/invocations",
        b"{}",
        HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES="trace=1",
        HTTP_ACCEPT="application/json",
        HTTP_X_MODEL="m1",
    )
    assert status == 200
    assert json.loads(payload) == {"attributes": "trace=1", "accept": "application/json", "model": "m1"}


def test_a_three_argument_predictor_is_called_as_before_with_the_attributes_header(app: PredictionApp) -> None:
    app.set_predictor(Predictor())
    status, _, payload = call(app, "POST", "/invocations", b"x", HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES="a=1")
    assert status == 200
    assert json.loads(payload)["body"] == "x"


def test_execution_parameters_answer_before_and_after_the_predictor(app: PredictionApp) -> None:
    status, headers, payload = call(app, "GET", "/execution-parameters")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(payload) == {"MaxConcurrentTransforms": 4, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}
    app.set_predictor(ContextPredictor())
    assert json.loads(call(app, "GET", "/execution-parameters")[2])["BatchStrategy"] == "SINGLE_RECORD"
    assert call(app, "POST", "/execution-parameters")[0] == 405


def test_shutdown_survives_the_loop_closing_the_trigger_before_the_wake_up_write() -> None:
    """waitress queues a trigger's thunk, then writes the wake-up byte; a loop woken by an earlier pull may run
    the thunk in between. Replayed here: every queued thunk runs before the write, so the last one (closing
    everything, the trigger too) leaves that write a closed descriptor."""
    config = ServeConfig(host="127.0.0.1", port=0)
    server = serve._create_server(PredictionApp(config), config)
    trigger, write = server.trigger, server.trigger._physical_pull

    def loop_runs_the_thunks_first() -> None:
        with trigger.lock:
            thunks, trigger.thunks = trigger.thunks, []
        for thunk in thunks:
            thunk()
        write()

    trigger._physical_pull = loop_runs_the_thunks_first
    assert serve._shutdown(server, grace=0) == 0
    assert server._map == {}
