"""Every SDK exception family is translated into mldock's storage errors, naming the URI."""

from __future__ import annotations

import http.client
import importlib
import inspect

import pytest

from mldock.errors import RemoteNotFoundError, StorageError
from mldock.storage.errors_map import map_sdk_error, storage_errors

URI = "s3://bucket/some/prefix"

SDK_EXCEPTION_MODULES = [
    "botocore.exceptions",
    "boto3.exceptions",
    "s3transfer.exceptions",
    "google.api_core.exceptions",
    "google.auth.exceptions",
    "google.cloud.storage.exceptions",
    "requests.exceptions",
    "azure.core.exceptions",
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


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for name in SDK_EXCEPTION_MODULES:
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Exception) and obj.__module__.split(".")[0] == name.split(".")[0]:
                found.append(obj)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


ALL_SDK_EXCEPTIONS = _exception_classes()


def test_the_sdk_families_were_found() -> None:
    modules = {cls.__module__.split(".")[0] for cls in ALL_SDK_EXCEPTIONS}
    assert {"botocore", "boto3", "s3transfer", "google", "requests", "azure"} <= modules
    assert len(ALL_SDK_EXCEPTIONS) > 100


@pytest.mark.parametrize("cls", ALL_SDK_EXCEPTIONS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_sdk_exception_is_mapped_to_a_storage_error_naming_the_uri(cls: type[BaseException]) -> None:
    with pytest.raises(StorageError) as info, storage_errors("download", URI):
        raise _instance(cls)
    assert URI in str(info.value)
    assert isinstance(info.value.__cause__, cls)


def _client_error(code: str, status: int) -> BaseException:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


def _google(name: str) -> BaseException:
    from google.api_core import exceptions

    exc: BaseException = getattr(exceptions, name)("msg")
    return exc


def _azure(name: str) -> BaseException:
    from azure.core import exceptions

    exc: BaseException = getattr(exceptions, name)("msg")
    return exc


@pytest.mark.parametrize(
    "make",
    [
        lambda: _client_error("NoSuchBucket", 404),
        lambda: _client_error("404", 404),
        lambda: _google("NotFound"),
        lambda: _azure("ResourceNotFoundError"),
    ],
    ids=["boto-nosuchbucket", "boto-head-404", "google-notfound", "azure-resourcenotfound"],
)
def test_not_found_becomes_remote_not_found(make: object) -> None:
    assert callable(make)
    assert isinstance(map_sdk_error(make(), "list", URI), RemoteNotFoundError)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: _client_error("AccessDenied", 403), "access denied"),
        (lambda: _google("Forbidden"), "access denied"),
        (lambda: _azure("ClientAuthenticationError"), "access denied"),
        (lambda: importlib.import_module("botocore.exceptions").NoCredentialsError(), "no credentials"),
        (
            lambda: importlib.import_module("botocore.exceptions").EndpointConnectionError(endpoint_url="http://x"),
            "cannot reach",
        ),
        (lambda: _azure("ServiceRequestError"), "cannot reach"),
        (lambda: _client_error("InternalError", 500), "HTTP 500"),
    ],
    ids=["boto-403", "google-403", "azure-auth", "boto-nocreds", "boto-endpoint", "azure-request", "boto-500"],
)
def test_messages_say_what_happened(make: object, words: str) -> None:
    assert callable(make)
    error = map_sdk_error(make(), "upload to", URI)
    assert type(error) is StorageError
    assert words in str(error)
    assert URI in str(error)


def test_storage_errors_pass_through_unchanged() -> None:
    original = RemoteNotFoundError("mine")
    with pytest.raises(RemoteNotFoundError) as info, storage_errors("list", URI):
        raise original
    assert info.value is original


def test_secrets_in_sdk_messages_are_masked() -> None:
    exc = RuntimeError("GET https://a.blob.core.windows.net/c?sv=1&sig=SECRETSIG&se=2 failed; AccountKey=KEY==;")
    text = str(map_sdk_error(exc, "list", URI))
    assert "SECRETSIG" not in text
    assert "KEY==" not in text


def test_a_transport_failure_names_the_endpoint_and_the_time_limit() -> None:
    hint = "http://10.0.0.9:9000, MLDOCK_STORAGE_TIMEOUT=60 s"
    timed_out = map_sdk_error(http.client.IncompleteRead(b"par", 10), "download", URI, hint)
    refused = map_sdk_error(ConnectionRefusedError(111, "refused"), "download", URI, hint)
    for error in (timed_out, refused):
        assert hint in str(error)
        assert URI in str(error)
    assert "did not answer in time" in str(timed_out)
    assert "cannot reach" in str(refused)


def test_storage_errors_asks_for_the_hint_only_when_mapping() -> None:
    asked: list[int] = []

    def hint() -> str:
        asked.append(1)
        return "http://endpoint"

    with storage_errors("list", URI, hint):
        pass
    assert asked == []
    with pytest.raises(StorageError, match="http://endpoint"), storage_errors("list", URI, hint):
        raise TimeoutError("slow")
    assert asked == [1]
