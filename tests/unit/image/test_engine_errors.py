"""docker-py's exceptions become mldock's at one boundary; connect() says what it tried."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import docker.errors as de
import pytest
import requests.exceptions

from mldock.engine import connect, engine_errors, map_docker_error
from mldock.errors import BuildError, EngineError, MldockError, ToolingError


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance of any docker.errors class, whatever its constructor wants."""
    special: dict[type[BaseException], tuple[Any, ...]] = {
        de.BuildError: ("step failed", [{"stream": "Step 1/1 : RUN false\n"}, {"error": "exit 1"}]),
        de.ContainerError: (None, 3, "false", "img", b"boom"),
        de.ContextAlreadyExists: ("ctx",),
        de.ContextNotFound: ("ctx",),
        de.MissingContextParameter: ("host",),
        de.ContextException: ("bad context",),
        de.TLSParameterError: ("bad tls",),
        de.StreamParseError: ("bad stream",),
    }
    if cls in special:
        return cls(*special[cls])
    if issubclass(cls, de.APIError):
        return cls("message")
    return cls("message")


DOCKER_EXCEPTIONS = sorted(
    (
        c
        for _, c in inspect.getmembers(de, inspect.isclass)
        if issubclass(c, BaseException) and c.__module__ == de.__name__
    ),
    key=lambda c: c.__name__,
)


def test_the_list_of_docker_exceptions_is_not_empty() -> None:
    assert len(DOCKER_EXCEPTIONS) >= 15


@pytest.mark.parametrize("cls", DOCKER_EXCEPTIONS, ids=lambda c: c.__name__)
def test_every_docker_exception_maps_into_the_tooling_tree(cls: type[BaseException]) -> None:
    mapped = map_docker_error(_instance(cls), "doing X")
    assert isinstance(mapped, ToolingError)
    assert "doing X" in str(mapped)


@pytest.mark.parametrize("cls", DOCKER_EXCEPTIONS, ids=lambda c: c.__name__)
def test_engine_errors_raises_the_mapped_error_from_the_original(cls: type[BaseException]) -> None:
    original = _instance(cls)
    with pytest.raises(MldockError) as info, engine_errors("doing Y"):
        raise original
    assert info.value.__cause__ is original


def test_a_docker_build_error_keeps_the_failing_step_output() -> None:
    mapped = map_docker_error(_instance(de.BuildError), "building img")
    assert isinstance(mapped, BuildError)
    assert "RUN false" in mapped.log_tail


@pytest.mark.parametrize(
    "exc",
    [requests.exceptions.ConnectionError("refused"), requests.exceptions.ReadTimeout("slow")],
    ids=["connection", "timeout"],
)
def test_transport_errors_map_to_engine_error(exc: Exception) -> None:
    with pytest.raises(EngineError, match="engine"), engine_errors("pinging"):
        raise exc


def test_mldock_errors_pass_through_unchanged() -> None:
    error = BuildError("mine")
    with pytest.raises(BuildError) as info, engine_errors("x"):
        raise error
    assert info.value is error


def test_connect_names_what_it_tried_and_how_to_start_an_engine(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sock"
    with pytest.raises(EngineError) as info:
        connect({}, sockets=[str(missing)])
    message = str(info.value)
    assert str(missing) in message
    assert "install-podman.sh" in message


def test_connect_reports_an_unreachable_docker_host(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/absent.sock"
    with pytest.raises(EngineError, match="DOCKER_HOST=" + host):
        connect({"DOCKER_HOST": host}, timeout=2)
