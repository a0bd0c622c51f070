"""StageStorage honours the task's MLDOCK_STORAGE_TIMEOUT, as the runtime's remotes do (mldock.storage.retry)."""

from __future__ import annotations

import socket

import pytest

from mldock.errors import StorageError, UserError
from mldock.project.stage_storage import StageStorage
from mldock.storage import parse_uri
from mldock.storage.retry import DEFAULT_STORAGE_TIMEOUT

S3_SETTINGS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _storage(timeout: str | None, endpoint: str = "http://127.0.0.1:9") -> StageStorage:
    environment = {"MLDOCK_STAGE": "test"} if timeout is None else {"MLDOCK_STORAGE_TIMEOUT": timeout}
    return StageStorage({"s3": {**S3_SETTINGS, "AWS_ENDPOINT_URL": endpoint}}, environment=environment)


@pytest.mark.parametrize(
    ("timeout", "total"),
    [pytest.param("7.5", 7.5, id="set"), pytest.param(None, DEFAULT_STORAGE_TIMEOUT, id="default")],
)
def test_the_tasks_timeout_bounds_the_stage_storage(timeout: str | None, total: float) -> None:
    remote = _storage(timeout).remote(parse_uri("s3://stage-bucket/train"))
    assert remote.timeouts.total == total  # type: ignore[attr-defined]


def test_the_emulators_settings_are_kept_beside_the_timeout() -> None:
    settings = _storage("5").settings("s3")
    assert settings is not None
    assert settings["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert settings["MLDOCK_STORAGE_TIMEOUT"] == "5"


def test_a_bad_timeout_is_a_user_error_naming_it() -> None:
    with pytest.raises(UserError, match="MLDOCK_STORAGE_TIMEOUT"):
        _storage("soon").remote(parse_uri("s3://stage-bucket/train"))


def test_a_failed_transfer_names_the_endpoint_and_the_tasks_limit() -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(StorageError) as caught:
        _storage("3", endpoint).read(parse_uri("s3://stage-bucket/train"))
    assert endpoint in str(caught.value)
    assert "MLDOCK_STORAGE_TIMEOUT=3 s" in str(caught.value)
