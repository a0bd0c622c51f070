"""The one classifier: every SDK class it lists is really recognised, class by class; and the SDK retry settings
are the ones docs/storage.md works the worst case out from, read off the clients the remotes make."""

from __future__ import annotations

import importlib
import os

import botocore.session
import pytest
import requests
from botocore.awsrequest import HTTPHeaders
from botocore.parsers import create_parser

from mldock.storage.classify import (
    AUTH_CLASSES,
    CONNECTION_CLASSES,
    NOT_FOUND_CLASSES,
    TRANSIENT_CLASSES,
    classify,
    is_garbled_response,
    is_transient,
)
from mldock.storage.errors_map import map_sdk_error
from mldock.storage.retry import CONNECT_TIMEOUT, DEFAULT_ATTEMPTS, READ_TIMEOUT, SDK_ATTEMPTS

GROUPS = {
    "transient": TRANSIENT_CLASSES,
    "not_found": NOT_FOUND_CLASSES,
    "auth": AUTH_CLASSES,
    "connection": CONNECTION_CLASSES,
}
CASES = [
    pytest.param(flag, module, name, id=f"{flag}-{module}.{name}")
    for flag, names in GROUPS.items()
    for module, name in names
]


def _instance(cls: type[BaseException]) -> BaseException:
    """An instance of an SDK exception class, whatever its constructor wants."""
    for args in (("boom",), ()):
        try:
            return cls(*args)
        except Exception:
            continue
    exc = cls.__new__(cls)
    Exception.__init__(exc, "boom")
    return exc


@pytest.mark.parametrize(("flag", "module", "name"), CASES)
def test_every_listed_class_is_classified(flag: str, module: str, name: str) -> None:
    if module == "azure.identity":
        pytest.importorskip(module)  # optional: only with managed identities
    cls = getattr(importlib.import_module(module), name)  # a listed class that no longer exists fails here
    assert getattr(classify(_instance(cls)), flag) is True


def test_a_class_is_not_matched_by_its_name_alone() -> None:
    class ServiceRequestError(Exception):  # spelled like azure-core's, but not azure-core's
        pass

    kind = classify(ServiceRequestError("x"))
    assert (kind.transient, kind.connection, kind.auth, kind.not_found) == (False, False, False, False)


# -- the SDK retry settings, read off the made clients ------------------------------------------------------


def test_boto3_client_retries_and_timeouts() -> None:
    from mldock.storage.s3 import make_client

    client = make_client({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "eu-west-1"})
    config = client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": SDK_ATTEMPTS}
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT, READ_TIMEOUT)
    assert client.meta.region_name == "eu-west-1"


def test_s3_transfer_manager_does_not_retry_parts_itself() -> None:
    from mldock.storage.s3 import S3Remote

    remote = S3Remote(environ={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "us-east-1"})
    assert remote.manager.config.num_download_attempts == 1
    assert remote.attempts == DEFAULT_ATTEMPTS


def test_azure_client_retry_policy_and_timeouts() -> None:
    from mldock.storage.azure import service_client_from_env

    client = service_client_from_env({"AZURE_STORAGE_ACCOUNT": "acct", "AZURE_STORAGE_KEY": "a2V5"})
    policy = client._config.retry_policy
    assert policy.total_retries == SDK_ATTEMPTS - 1
    assert (policy.initial_backoff, policy.increment_base, policy.random_jitter_range) == (0, 2, 1)
    delays = [policy.get_backoff_time({"count": retry}) for retry in range(1, SDK_ATTEMPTS)]
    assert all(delay <= 2**retry + 1 for retry, delay in enumerate(delays, start=1))
    connection = client._config.transport.connection_config
    assert (connection.timeout, connection.read_timeout) == (CONNECT_TIMEOUT, READ_TIMEOUT)


def test_gcs_retry_stops_after_the_attempts_of_one_file() -> None:
    from google.api_core.exceptions import ServiceUnavailable

    from mldock.storage.gcs import request_retry

    retry = request_retry()
    calls: list[int] = []

    def always_busy() -> None:
        calls.append(1)
        raise ServiceUnavailable("busy")

    with pytest.raises(ServiceUnavailable):
        retry.with_delay(initial=0.001, maximum=0.001)(always_busy)()
    assert len(calls) == SDK_ATTEMPTS
    assert retry._timeout is None  # bounded by attempts, not by a deadline
    assert (retry._initial, retry._maximum, retry._multiplier) == (0.5, 4.0, 2.0)


def test_gcs_calls_carry_the_timeouts() -> None:
    from mldock.storage.gcs import TIMEOUT

    assert TIMEOUT == (CONNECT_TIMEOUT, READ_TIMEOUT)


# -- explicit settings ---------------------------------------------------------------------------------------


def test_an_explicit_mapping_is_used_and_os_environ_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from mldock.storage.gcs import make_client as gcs_client
    from mldock.storage.s3 import make_client as s3_client

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-os-environ:1")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://from-os-environ:2")
    before = dict(os.environ)
    s3 = s3_client(
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    )
    assert s3.meta.endpoint_url == "http://127.0.0.1:4566"
    gcs = gcs_client({"STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443", "GOOGLE_CLOUD_PROJECT": "p"})
    assert gcs.api_endpoint == "http://127.0.0.1:4443"
    assert gcs.project == "p"
    assert dict(os.environ) == before


def test_an_explicit_mapping_without_an_endpoint_ignores_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    from mldock.storage.s3 import make_client

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-os-environ:1")
    client = make_client({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "eu-west-1"})
    assert client.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"


def test_a_value_error_from_a_response_parser_is_a_transient_garbled_response() -> None:
    operation = botocore.session.get_session().get_service_model("s3").operation_model("HeadObject")
    headers = HTTPHeaders()
    headers["Last-Modified"] = "Tue, 01 D"  # a Date header cut short, as a truncating proxy leaves it
    with pytest.raises(ValueError, match="Invalid timestamp") as truncated_header:
        create_parser("rest-xml").parse({"status_code": 200, "headers": headers, "body": b""}, operation.output_shape)
    assert is_garbled_response(truncated_header.value)
    assert is_transient(truncated_header.value)
    mapped = map_sdk_error(truncated_header.value, "download", "s3://b/k", "http://127.0.0.1:9")
    assert "cut short or garbled" in str(mapped)
    assert "http://127.0.0.1:9" in str(mapped)


def test_a_truncated_json_body_read_through_requests_is_transient() -> None:
    response = requests.Response()
    response._content = b'{"items": [{"name": "a'
    with pytest.raises(ValueError, match="Unterminated string") as truncated_json:
        response.json()
    assert is_transient(truncated_json.value)


def test_a_value_error_from_elsewhere_is_not_transient() -> None:
    with pytest.raises(ValueError, match="invalid literal") as own:
        int("not a number")
    assert not is_garbled_response(own.value)
    assert not is_transient(own.value)


@pytest.mark.parametrize(
    ("code", "transient"),
    [("BadDigest", True), ("RequestTimeout", True), ("InvalidDigest", False), ("AccessDenied", False)],
    ids=["bad-digest", "request-timeout", "invalid-digest", "access-denied"],
)
def test_s3_400_answers_retried_only_for_a_body_changed_on_the_way_or_too_slow(code: str, transient: bool) -> None:
    from botocore.exceptions import ClientError

    exc = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject"
    )
    assert is_transient(exc) is transient


def test_boto3_client_asks_for_flexible_checksums_only_when_required() -> None:
    from mldock.storage.s3 import make_client

    config = make_client(
        {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "us-east-1"}
    ).meta.config
    assert (config.request_checksum_calculation, config.response_checksum_validation) == ("when_required",) * 2
