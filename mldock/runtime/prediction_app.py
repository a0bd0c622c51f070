"""The prediction app: a small WSGI app around the user's predictor (mldock.runtime.serve runs it in waitress).

    class Predictor:                                  # predictor.py, the default handler predictor:Predictor
        def __init__(self, env): self.model = load(env.model_dir / "model")
        def predict(self, body: bytes, content_type: str, accept: str): return {"y": ...}
        def ping(self) -> bool: return True           # optional

Routes (a path may be both a health and a predict route: then GET and HEAD are health, POST is predict, as
Vertex AI's equal `AIP_HEALTH_ROUTE` and `AIP_PREDICT_ROUTE` need; any other method gets 405 naming the three):
- health: `GET /ping` and `AIP_HEALTH_ROUTE` answer 200 only once startup() and the predictor's constructor
  have finished (and `ping()`, when defined, returns true), 503 before. On Azure ML this is the readiness route.
- liveness: `GET /` (Azure ML's liveness route, as its inference server has it) answers 200 whenever the
  server runs, also while startup() is still loading the model (`{"status": "alive", "ready": false}`), so a
  liveness probe never restarts a container that is still loading.
- predict: `POST /invocations`, `POST /score` (Azure ML's scoring route) and `AIP_PREDICT_ROUTE` pass the body,
  Content-Type and Accept to `predict()`, whose result may be bytes, str, dict/list (sent as JSON) or a
  `(body, content_type)` tuple. (Vertex AI's `{"instances": [...]}` bodies: mldock.runtime.instances.)
A mldock UserError from predict() → 400, any other exception → 500 with a JSON error (the traceback goes to
the log only); a body over the limit → 413.
A predictor whose predict() takes a `context` keyword (or **kwargs) also gets a RequestContext: content type,
accept, SageMaker's `X-Amzn-SageMaker-Custom-Attributes` and the request headers; a three-argument predict()
is called as before. `GET /execution-parameters` (SageMaker batch transform) answers MaxConcurrentTransforms
(the worker threads), BatchStrategy MULTI_RECORD and MaxPayloadInMB (the body limit, 1..100), overlaid by the
predictor's `execution_parameters()` dict when it has one.

Settings (names and defaults in mldock.contract): port `MLDOCK_SERVE_PORT`, else `SAGEMAKER_BIND_TO_PORT`,
else `AIP_HTTP_PORT`, else 5001 when `AZUREML_MODEL_DIR` is set (Azure ML), else 8080;
host `MLDOCK_SERVE_HOST` (0.0.0.0); `MLDOCK_SERVE_THREADS` (4 prediction workers; health checks have their
own threads); `MLDOCK_SERVE_MAX_BODY_BYTES` (64 MiB); the connection limit and the header, body and idle
timeouts `MLDOCK_SERVE_CONNECTION_LIMIT` (100), `MLDOCK_SERVE_HEADER_TIMEOUT` (10 s),
`MLDOCK_SERVE_BODY_TIMEOUT` (60 s), `MLDOCK_SERVE_IDLE_TIMEOUT` (120 s), applied by mldock.runtime.serve;
`MLDOCK_STOP_GRACE_SECONDS` (20) bounds the wait for in-flight requests at shutdown.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mldock import contract
from mldock.errors import UserError
from mldock.runtime.environment import Environment

__all__ = ["PredictionApp", "RequestContext", "ServeConfig", "encode_result", "execution_parameters"]

logger = logging.getLogger("mldock")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_CUSTOM_ATTRIBUTES_KEY = "HTTP_" + contract.SAGEMAKER_CUSTOM_ATTRIBUTES_HEADER.upper().replace("-", "_")
_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


@dataclass(frozen=True)
class ServeConfig:
    """Where and how to serve, read from the environment's settings and the Vertex AI `AIP_*` variables.

    ServeConfig.from_env(env, os.environ).port       # MLDOCK_SERVE_PORT, else AIP_HTTP_PORT, else 8080
    """

    host: str = contract.DEFAULT_SERVE_HOST
    port: int = contract.DEFAULT_SERVE_PORT
    health_routes: frozenset[str] = frozenset({contract.DEFAULT_HEALTH_ROUTE})
    predict_routes: frozenset[str] = frozenset({contract.DEFAULT_PREDICT_ROUTE, contract.AZUREML_SCORING_ROUTE})
    liveness_routes: frozenset[str] = frozenset({contract.AZUREML_LIVENESS_ROUTE})
    threads: int = contract.DEFAULT_SERVE_THREADS
    max_body_bytes: int = contract.DEFAULT_MAX_BODY_BYTES
    grace_seconds: float = contract.DEFAULT_STOP_GRACE_SECONDS
    connection_limit: int = contract.DEFAULT_SERVE_CONNECTION_LIMIT
    header_timeout: float = contract.DEFAULT_SERVE_HEADER_TIMEOUT
    body_timeout: float = contract.DEFAULT_SERVE_BODY_TIMEOUT
    idle_timeout: float = contract.DEFAULT_SERVE_IDLE_TIMEOUT

    @classmethod
    def from_env(cls, env: Environment, environ: Mapping[str, str]) -> ServeConfig:
        """The configuration for `env` (its `MLDOCK_*` settings) and `environ` (the `AIP_*` variables).

        UserError naming the variable for a bad value.
        """
        variables = {name: value for name, value in environ.items() if not name.startswith(contract.PREFIX)}
        variables |= {contract.PREFIX + key: value for key, value in env.settings.items()}
        threads = variables.get(contract.SERVE_THREADS, str(contract.DEFAULT_SERVE_THREADS))
        max_body = variables.get(contract.SERVE_MAX_BODY_BYTES, str(contract.DEFAULT_MAX_BODY_BYTES))
        return cls(
            host=variables.get(contract.SERVE_HOST, "").strip() or contract.DEFAULT_SERVE_HOST,
            port=contract.serve_port(variables),
            health_routes=_routes(
                contract.DEFAULT_HEALTH_ROUTE, variables.get(contract.AIP_HEALTH_ROUTE), contract.AIP_HEALTH_ROUTE
            ),
            predict_routes=_routes(
                contract.DEFAULT_PREDICT_ROUTE, variables.get(contract.AIP_PREDICT_ROUTE), contract.AIP_PREDICT_ROUTE
            )
            | {contract.AZUREML_SCORING_ROUTE},
            threads=_integer(threads, contract.SERVE_THREADS, 1, 1024),
            max_body_bytes=_integer(max_body, contract.SERVE_MAX_BODY_BYTES, 1, 2**40),
            grace_seconds=contract.stop_grace_seconds(variables),
            connection_limit=_integer(
                variables.get(contract.SERVE_CONNECTION_LIMIT, str(contract.DEFAULT_SERVE_CONNECTION_LIMIT)),
                contract.SERVE_CONNECTION_LIMIT,
                1,
                100_000,
            ),
            header_timeout=_seconds(variables, contract.SERVE_HEADER_TIMEOUT, contract.DEFAULT_SERVE_HEADER_TIMEOUT),
            body_timeout=_seconds(variables, contract.SERVE_BODY_TIMEOUT, contract.DEFAULT_SERVE_BODY_TIMEOUT),
            idle_timeout=_seconds(variables, contract.SERVE_IDLE_TIMEOUT, contract.DEFAULT_SERVE_IDLE_TIMEOUT),
        )


@dataclass(frozen=True)
class RequestContext:
    """What a predict(body, content_type, accept, *, context) gets besides the body.

    def predict(self, body, content_type, accept, *, context):
        if "explain" in context.custom_attributes: ...
    """

    content_type: str
    accept: str
    custom_attributes: str = ""
    """SageMaker's `X-Amzn-SageMaker-Custom-Attributes` header as sent ("" when absent)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request headers, names lower-cased with `-` (`x-amzn-sagemaker-target-model`)."""


def execution_parameters(config: ServeConfig, predictor: Any = None) -> dict[str, Any]:
    """SageMaker batch transform's execution parameters for `config`, overlaid by the predictor's own."""
    parameters: dict[str, Any] = {
        "MaxConcurrentTransforms": config.threads,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": max(1, min(100, config.max_body_bytes // 2**20)),
    }
    own = getattr(predictor, "execution_parameters", None)
    if callable(own):
        extra = own()
        if not isinstance(extra, Mapping):
            raise TypeError(f"execution_parameters() returned {type(extra).__name__}; return a dict")
        parameters |= dict(extra)
    return parameters


def _takes_context(predict: Any) -> bool:
    try:
        parameters = inspect.signature(predict).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "context" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    return {
        name[5:].lower().replace("_", "-"): str(value) for name, value in environ.items() if name.startswith("HTTP_")
    }


class PredictionApp:
    """The WSGI application: health and predict routes around a predictor that arrives once loaded.

    app = PredictionApp(ServeConfig()); app.set_predictor(Predictor(env))   # /ping turns 200
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._predictor: Any = None
        self._with_context = False
        self._ready = threading.Event()

    def set_predictor(self, predictor: Any) -> None:
        """Install the loaded predictor; from now on /ping may answer 200."""
        self._predictor = predictor
        self._with_context = _takes_context(getattr(predictor, "predict", None))
        self._ready.set()

    @property
    def ready(self) -> bool:
        """True once the predictor is installed."""
        return self._ready.is_set()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        health, predict = path in self.config.health_routes, path in self.config.predict_routes
        if health and method in ("GET", "HEAD"):
            return self._ping(start_response)
        if predict and method == "POST":
            return self._invoke(environ, start_response)
        if health and predict:
            allow = [("Allow", "GET, HEAD, POST")]
            return _respond(start_response, 405, _error("use GET (health) or POST (predict)"), extra=allow)
        if health:
            return _respond(start_response, 405, _error("use GET"), extra=[("Allow", "GET, HEAD")])
        if predict:
            return _respond(start_response, 405, _error("use POST"), extra=[("Allow", "POST")])
        if path in self.config.liveness_routes:
            if method not in ("GET", "HEAD"):
                return _respond(start_response, 405, _error("use GET"), extra=[("Allow", "GET, HEAD")])
            alive = json.dumps({"status": "alive", "ready": self.ready}).encode("utf-8")
            return _respond(start_response, 200, (alive, "application/json"))
        if path == contract.SAGEMAKER_EXECUTION_PARAMETERS_ROUTE:
            if method not in ("GET", "HEAD"):
                return _respond(start_response, 405, _error("use GET"), extra=[("Allow", "GET, HEAD")])
            return self._execution_parameters(start_response)
        return _respond(start_response, 404, _error(f"no route {path}"))

    def _execution_parameters(self, start_response: StartResponse) -> Iterable[bytes]:
        try:
            parameters = execution_parameters(self.config, self._predictor if self.ready else None)
        except Exception as exc:
            logger.exception("serve: execution_parameters() raised")
            return _respond(start_response, 500, _error(f"execution_parameters() failed ({type(exc).__name__})"))
        return _respond(start_response, 200, (json.dumps(parameters).encode("utf-8"), "application/json"))

    def _ping(self, start_response: StartResponse) -> Iterable[bytes]:
        if not self.ready:
            return _respond(start_response, 503, _error("not ready: startup is running"))
        ping = getattr(self._predictor, "ping", None)
        if callable(ping):
            try:
                healthy = bool(ping())
            except Exception:
                logger.exception("serve: ping() raised")
                healthy = False
            if not healthy:
                return _respond(start_response, 503, _error("the predictor reports it is not healthy"))
        return _respond(start_response, 200, (b'{"status": "ok"}', "application/json"))

    def _invoke(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self.ready:
            return _respond(start_response, 503, _error("not ready: startup is running"))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _respond(start_response, 400, _error("bad Content-Length"))
        if length > self.config.max_body_bytes:
            return _respond(start_response, 413, _error(f"body over {self.config.max_body_bytes} bytes"))
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        content_type = environ.get("CONTENT_TYPE") or "application/octet-stream"
        accept = environ.get("HTTP_ACCEPT") or "*/*"
        try:
            if self._with_context:
                context = RequestContext(
                    content_type, accept, environ.get(_CUSTOM_ATTRIBUTES_KEY, ""), _headers(environ)
                )
                result = self._predictor.predict(body, content_type, accept, context=context)
            else:
                result = self._predictor.predict(body, content_type, accept)
            payload = encode_result(result, accept)
        except UserError as exc:
            return _respond(start_response, 400, _error(str(exc)))
        except Exception as exc:
            logger.exception("serve: predict() raised %s", type(exc).__name__)
            return _respond(start_response, 500, _error(f"predict() failed ({type(exc).__name__}); see the log"))
        return _respond(start_response, 200, payload)


def encode_result(result: Any, accept: str = "*/*") -> tuple[bytes, str]:
    """The response body and content type for what predict() returned; TypeError for anything else."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        body, _ = encode_result(result[0], accept)
        return body, result[1]
    if isinstance(result, (bytes, bytearray, memoryview)):
        specific = accept and "*" not in accept and "," not in accept
        return bytes(result), accept if specific else "application/octet-stream"
    if isinstance(result, str):
        return result.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(result, (dict, list)):
        return json.dumps(result).encode("utf-8"), "application/json"
    raise TypeError(
        f"predict() returned {type(result).__name__}; return bytes, str, dict, list or (body, content_type)"
    )


def _respond(
    start_response: StartResponse,
    status: int,
    payload: tuple[bytes, str],
    *,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body, content_type = payload
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(_STATUS[status], headers)
    return [body]


def _error(message: str) -> tuple[bytes, str]:
    return json.dumps({"error": message}).encode("utf-8"), "application/json"


def _routes(default: str, extra: str | None, variable: str) -> frozenset[str]:
    if extra is None or not extra.strip():
        return frozenset({default})
    if not extra.startswith("/"):
        raise UserError(f"{variable}: {extra!r} must be a path starting with '/'")
    return frozenset({default, extra})


def _integer(value: str, variable: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise UserError(f"{variable}: {value!r} is not an integer") from None
    if not low <= number <= high:
        raise UserError(f"{variable}: {value!r} is out of range ({low}..{high})")
    return number


def _seconds(variables: Mapping[str, str], variable: str, default: float) -> float:
    value = variables.get(variable)
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        raise UserError(f"{variable}: {value!r} is not a number of seconds") from None
    if not 0 < seconds <= 1e6:  # also refuses NaN
        raise UserError(f"{variable}: {value!r} is out of range (more than 0, at most 1e6 seconds)")
    return seconds
