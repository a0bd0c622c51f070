"""Which failures are retried, and how the retry loop behaves."""

from __future__ import annotations

import errno

import pytest

from mldock.errors import StorageError, UserError
from mldock.storage.classify import is_transient, status_code_of
from mldock.storage.retry import (
    CONNECT_TIMEOUT,
    SDK_ATTEMPTS,
    Timeouts,
    backoff_delays,
    call_with_retry,
    timeouts_from,
)


def _client_error(code: str, status: int) -> BaseException:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def _transient_cases() -> list[BaseException]:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
    from google.api_core.exceptions import ServiceUnavailable, TooManyRequests
    from requests.exceptions import ChunkedEncodingError

    busy = HttpResponseError("busy")
    busy.status_code = 503
    wrapped = StorageError("download failed")
    wrapped.__cause__ = ConnectionResetError(errno.ECONNRESET, "reset")
    return [
        _client_error("InternalError", 500),
        _client_error("SlowDown", 503),
        EndpointConnectionError(endpoint_url="http://x"),
        ConnectionClosedError(endpoint_url="http://x"),
        ReadTimeoutError(endpoint_url="http://x"),
        ServiceUnavailable("down"),
        TooManyRequests("slow down"),
        ChunkedEncodingError("cut"),
        ServiceRequestError("no route"),
        ServiceResponseError("reset"),
        busy,
        ConnectionResetError(errno.ECONNRESET, "reset"),
        OSError(errno.EPIPE, "broken pipe"),
        TimeoutError("slow"),
        wrapped,
    ]


def _permanent_cases() -> list[BaseException]:
    from azure.core.exceptions import ResourceNotFoundError
    from google.api_core.exceptions import Forbidden, NotFound

    return [
        _client_error("NoSuchBucket", 404),
        _client_error("AccessDenied", 403),
        NotFound("gone"),
        Forbidden("no"),
        ResourceNotFoundError("gone"),
        ValueError("bug"),
        FileNotFoundError(errno.ENOENT, "local"),
    ]


@pytest.mark.parametrize("exc", _transient_cases(), ids=lambda e: type(e).__name__)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", _permanent_cases(), ids=lambda e: type(e).__name__)
def test_permanent(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_status_code_of_each_sdk() -> None:
    from azure.core.exceptions import HttpResponseError
    from google.api_core.exceptions import BadGateway

    azure = HttpResponseError("x")
    azure.status_code = 502
    assert status_code_of(_client_error("X", 500)) == 500
    assert status_code_of(BadGateway("x")) == 502
    assert status_code_of(azure) == 502
    assert status_code_of(ValueError()) is None


def test_retries_transient_then_succeeds() -> None:
    outcomes: list[BaseException | str] = [ConnectionResetError(), TimeoutError(), "ok"]
    sleeps: list[float] = []

    def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    assert call_with_retry(attempt, attempts=4, sleep=sleeps.append) == "ok"
    assert len(sleeps) == 2


def test_gives_up_after_the_last_attempt_and_never_retries_permanent_errors() -> None:
    calls = 0

    def always(exc: BaseException) -> None:
        nonlocal calls
        calls += 1
        raise exc

    with pytest.raises(ConnectionResetError):
        call_with_retry(lambda: always(ConnectionResetError()), attempts=3, sleep=lambda _: None)
    assert calls == 3
    calls = 0
    with pytest.raises(ValueError, match="bug"):
        call_with_retry(lambda: always(ValueError("bug")), attempts=3, sleep=lambda _: None)
    assert calls == 1


def test_backoff_is_capped_and_counts_attempts_minus_one() -> None:
    delays = list(backoff_delays(6, base=1.0, cap=3.0))
    assert len(delays) == 5
    assert all(0 <= d <= 3.0 for d in delays)


@pytest.mark.parametrize(
    ("environ", "total"),
    [
        pytest.param({}, 60.0, id="unset"),
        pytest.param({"MLDOCK_STORAGE_TIMEOUT": " "}, 60.0, id="blank"),
        pytest.param({"MLDOCK_STORAGE_TIMEOUT": "12"}, 12.0, id="set"),
        pytest.param({"MLDOCK_STORAGE_TIMEOUT": " 0.5 "}, 0.5, id="fraction-padded"),
    ],
)
def test_the_storage_timeout_setting_splits_into_per_request_timeouts(environ: dict[str, str], total: float) -> None:
    timeouts = timeouts_from(environ)
    assert timeouts.total == total
    assert timeouts.connect == timeouts.read == total / (2 * SDK_ATTEMPTS)
    assert Timeouts().connect == CONNECT_TIMEOUT


@pytest.mark.parametrize("value", ["0", "-3", "never", "inf", "nan", "1e7"])
def test_a_bad_storage_timeout_is_a_user_error_naming_the_variable(value: str) -> None:
    with pytest.raises(UserError, match="MLDOCK_STORAGE_TIMEOUT"):
        timeouts_from({"MLDOCK_STORAGE_TIMEOUT": value})


def test_no_retry_starts_after_the_retry_window() -> None:
    now = [0.0]
    calls: list[float] = []

    def fn() -> None:
        calls.append(now[0])
        now[0] += 4.0  # each failing call takes 4 s
        raise ConnectionResetError(errno.ECONNRESET, "reset")

    with pytest.raises(ConnectionResetError):
        call_with_retry(fn, attempts=10, sleep=lambda _: None, retry_window=10.0, clock=lambda: now[0])
    assert calls == [0.0, 4.0, 8.0]  # the third failure ends at 12 s, past the window: no fourth call
