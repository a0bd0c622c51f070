"""pin_environment: the proxies and CA bundle requests would look up per request, resolved once per endpoint."""

from __future__ import annotations

import pytest
import requests

from mldock.storage.http import ca_bundle, pin_environment

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROXY_VARIABLES, "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_proxy_for_the_endpoint_is_kept_and_lookups_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "metadata.internal")
    session = requests.Session()
    pin_environment(session, "https://storage.googleapis.com")
    assert session.proxies["https"] == "http://proxy.internal:3128"
    assert "no" not in session.proxies
    assert session.trust_env is False


def test_endpoint_named_in_no_proxy_gets_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    session = requests.Session()
    pin_environment(session, "http://127.0.0.1:10000/devstoreaccount1")
    assert session.proxies == {}
    assert session.trust_env is False


def test_proxies_set_on_the_session_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://from-env:3128")
    session = requests.Session()
    session.proxies["https"] = "http://chosen:8080"
    pin_environment(session, "https://account.blob.core.windows.net")
    assert session.proxies["https"] == "http://chosen:8080"


def test_ca_bundle_from_the_environment_unless_verification_was_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    assert ca_bundle() == "/etc/ssl/curl.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    assert ca_bundle() == "/etc/ssl/corp.pem"
    session = requests.Session()
    pin_environment(session, "https://storage.googleapis.com")
    assert session.verify == "/etc/ssl/corp.pem"
    unverified = requests.Session()
    unverified.verify = False
    pin_environment(unverified, "https://storage.googleapis.com")
    assert unverified.verify is False


def test_no_bundle_keeps_the_default() -> None:
    assert ca_bundle({}) is None
    session = requests.Session()
    pin_environment(session, "https://storage.googleapis.com")
    assert session.verify is True


def test_azure_client_uses_the_bundle_and_a_pinned_session(monkeypatch: pytest.MonkeyPatch) -> None:
    from mldock.storage.azure import service_client_from_env

    monkeypatch.setenv("HTTPS_PROXY", "http://from-os-environ:1")  # an explicit mapping alone decides
    client = service_client_from_env(
        {
            "AZURE_STORAGE_ACCOUNT": "acct",
            "AZURE_STORAGE_KEY": "a2V5",
            "REQUESTS_CA_BUNDLE": "/etc/ssl/corp.pem",
            "HTTPS_PROXY": "http://proxy.internal:3128",
        }
    )
    transport = client._config.transport
    assert transport.connection_config.verify == "/etc/ssl/corp.pem"  # azure-core passes it on every request
    assert transport.session.trust_env is False
    assert transport.session.proxies["https"] == "http://proxy.internal:3128"


def test_gcs_client_session_is_pinned_to_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from mldock.storage.gcs import GCSRemote

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = GCSRemote().client._http
    assert session.trust_env is False
    assert session.proxies == {}
