"""The one place where docker-py's exceptions become mldock's.

    with engine_errors("starting the moto container"):
        client.containers.run(...)

Every exception docker-py (and the `requests` transport under it) raises is translated into
`EngineError` or `BuildError` with `raise ... from exc`, so callers catch one tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mldock.errors import BuildError, EngineError, ToolingError

__all__ = ["build_log_tail", "engine_errors", "map_docker_error"]

_LOG_TAIL_LINES = 40


def build_log_tail(build_log: Any, lines: int = _LOG_TAIL_LINES) -> str:
    """The last `lines` lines of text in a docker-py build log (a sequence of JSON chunks)."""
    text: list[str] = []
    for chunk in build_log or ():
        if isinstance(chunk, dict):
            piece = chunk.get("stream") or chunk.get("error") or chunk.get("status") or ""
        else:
            piece = str(chunk)
        text.extend(str(piece).splitlines())
    return "\n".join(line for line in text[-lines:])


def map_docker_error(exc: BaseException, doing: str = "talking to the container engine") -> ToolingError:
    """The mldock error for a docker-py (or requests) exception raised while `doing` something."""
    import docker.errors as de  # deferred: tooling only
    import requests.exceptions as re_

    if isinstance(exc, de.BuildError):
        tail = build_log_tail(exc.build_log)
        return BuildError(f"{doing} failed: {exc.msg}", log_tail=tail)
    if isinstance(exc, de.ContainerError):
        stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
        return EngineError(f"{doing} failed: container exited with {exc.exit_status}\n{stderr[-4000:]}".rstrip())
    if isinstance(exc, de.ImageNotFound):
        return EngineError(f"{doing} failed: image not found ({_explain(exc)}); build or pull it first")
    if isinstance(exc, de.NotFound):
        return EngineError(f"{doing} failed: not found ({_explain(exc)})")
    if isinstance(exc, de.APIError):
        return EngineError(f"{doing} failed: the engine answered {exc.status_code}: {_explain(exc)}")
    if isinstance(exc, (de.TLSParameterError, de.InvalidConfigFile, de.ContextException, de.ContextNotFound,
                        de.ContextAlreadyExists, de.MissingContextParameter)):
        return EngineError(f"{doing} failed: the engine connection is misconfigured: {exc}")
    if isinstance(exc, re_.ConnectionError):
        return EngineError(
            f"{doing} failed: the container engine is unreachable ({exc}); "
            "check DOCKER_HOST or run `bash scripts/install-podman.sh`"
        )
    if isinstance(exc, re_.Timeout):
        return EngineError(f"{doing} failed: the container engine did not answer in time ({exc})")
    if isinstance(exc, (de.DockerException, de.StreamParseError, re_.RequestException)):
        return EngineError(f"{doing} failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, ToolingError):
        return exc
    return EngineError(f"{doing} failed: {type(exc).__name__}: {exc}")


@contextmanager
def engine_errors(doing: str = "talking to the container engine") -> Iterator[None]:
    """Translate docker-py/requests exceptions raised inside the block (mldock's own errors pass through)."""
    import docker.errors as de
    import requests.exceptions as re_

    try:
        yield
    except (de.DockerException, de.StreamParseError, re_.RequestException) as exc:
        raise map_docker_error(exc, doing) from exc


def _explain(exc: Any) -> str:
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or exc)
