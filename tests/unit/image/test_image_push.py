"""Registry values, the host → login mapping, cloud token calls (ECR on moto), and reading a push stream."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mldock.errors import EngineError, MldockError, UserError
from mldock.image.push import PushedImage, read_push_stream, validate_tag
from mldock.image.registry import (
    ACR_TOKEN_USERNAME,
    Credentials,
    LoginMethod,
    Registry,
    acr_credentials,
    ecr_credentials,
    login_method,
    registry_credentials,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("host", "method"),
    [
        pytest.param("123456789012.dkr.ecr.eu-west-1.amazonaws.com", LoginMethod.ECR, id="ecr"),
        pytest.param("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", LoginMethod.ECR, id="ecr-fips"),
        pytest.param("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", LoginMethod.ECR, id="ecr-china"),
        pytest.param("123456789012.dkr-ecr.us-east-1.on.aws", LoginMethod.ECR, id="ecr-dualstack"),
        pytest.param("europe-west4-docker.pkg.dev", LoginMethod.GCP, id="artifact-registry"),
        pytest.param("gcr.io", LoginMethod.GCP, id="gcr"),
        pytest.param("eu.gcr.io", LoginMethod.GCP, id="gcr-regional"),
        pytest.param("myregistry.azurecr.io", LoginMethod.ACR, id="acr"),
        pytest.param("MyRegistry.AzureCR.io", LoginMethod.ACR, id="acr-case"),
        pytest.param("127.0.0.1:5000", LoginMethod.ENGINE, id="local"),
        pytest.param("registry.example.com", LoginMethod.ENGINE, id="other"),
        pytest.param("docker.io", LoginMethod.ENGINE, id="docker-hub"),
        pytest.param("gcr.io.evil.example", LoginMethod.ENGINE, id="gcr-lookalike"),
        pytest.param("12345.dkr.ecr.eu-west-1.amazonaws.com", LoginMethod.ENGINE, id="ecr-short-account"),
        pytest.param("x.azurecr.io.example.com", LoginMethod.ENGINE, id="acr-lookalike"),
    ],
)
def test_login_method_follows_the_host(host: str, method: LoginMethod) -> None:
    assert login_method(host) is method


def test_an_explicit_username_wins_over_the_host() -> None:
    assert login_method("123456789012.dkr.ecr.eu-west-1.amazonaws.com", username="AWS") is LoginMethod.PASSWORD


@pytest.mark.parametrize(
    ("value", "host", "repository"),
    [
        pytest.param("127.0.0.1:5000", "127.0.0.1:5000", "127.0.0.1:5000/demo", id="host-port"),
        pytest.param("127.0.0.1:5000/team/ml/", "127.0.0.1:5000", "127.0.0.1:5000/team/ml/demo", id="namespace"),
        pytest.param("europe-docker.pkg.dev/proj/repo", "europe-docker.pkg.dev", "europe-docker.pkg.dev/proj/repo/demo",
                     id="artifact-registry"),
    ],
)
def test_registry_parse(value: str, host: str, repository: str) -> None:
    registry = Registry.parse(value)
    assert registry.host == host
    assert registry.repository("demo") == repository


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param("https://example.com", "without a scheme", id="scheme"),
        pytest.param("", "not a host", id="empty"),
        pytest.param("bad host:5000", "not a host", id="space"),
        pytest.param("example.com/Team", "namespace part 'Team'", id="upper-namespace"),
    ],
)
def test_registry_parse_says_what_is_wrong(value: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        Registry.parse(value)


def test_tags_are_validated() -> None:
    assert validate_tag("v1.2_rc-3") == "v1.2_rc-3"
    for bad in ("", "-x", ".x", "a/b", "x" * 129, "a:b"):
        with pytest.raises(UserError, match="is not an image tag"):
            validate_tag(bad)


def test_password_login_needs_both_halves_and_never_shows_the_password() -> None:
    registry = Registry.parse("registry.example.com")
    with pytest.raises(UserError, match="needs a password"):
        registry_credentials(registry, username="ci")
    with pytest.raises(UserError, match="without --username"):
        registry_credentials(registry, password="s3cret-pw")
    creds = registry_credentials(registry, username="ci", password="s3cret-pw")
    assert creds is not None
    assert creds.method is LoginMethod.PASSWORD
    assert creds.auth_config() == {"username": "ci", "password": "s3cret-pw", "serveraddress": "registry.example.com"}
    assert "s3cret-pw" not in repr(creds)
    basic = base64.b64encode(b"ci:s3cret-pw").decode()
    assert creds.mask(f"denied for s3cret-pw (Basic {basic})") == "denied for *** (Basic ***)"


def test_an_unmatched_host_uses_the_engines_own_login() -> None:
    assert registry_credentials(Registry.parse("127.0.0.1:5000")) is None


def test_ecr_login_through_boto3_against_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        creds = registry_credentials(Registry.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team"))
    assert creds is not None
    assert (creds.method, creds.username, creds.server) == (
        LoginMethod.ECR,
        "AWS",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    )
    assert creds.password


def test_ecr_login_failure_is_an_mldock_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(MldockError, match=r"logging in to ECR .* failed: get_authorization_token"):
        ecr_credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com")


def test_a_missing_sdk_falls_back_to_the_engine_login(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_azure_identity(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("azure.identity"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_azure_identity)
    notes: list[str] = []
    assert registry_credentials(Registry.parse("myregistry.azurecr.io"), missing_sdk=notes.append) is None
    assert notes
    assert "azure-identity is not installed" in notes[0]


def test_acr_exchanges_an_entra_token_for_a_refresh_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """azure-identity stood in for by a module with a fake DefaultAzureCredential (no Azure here)."""
    import sys
    import types

    pytest.importorskip("azure.core")

    class Token:
        token = "entra-token"

    class FakeCredential:
        def get_token(self, scope: str) -> Token:
            assert scope == "https://management.azure.com/.default"
            return Token()

    class Response:
        def raise_for_status(self) -> None:
            pass

        def json(self) -> dict[str, str]:
            return {"refresh_token": "acr-refresh"}

    seen: dict[str, Any] = {}

    def post(url: str, **kwargs: Any) -> Response:
        seen.update(url=url, **kwargs)
        return Response()

    identity = types.ModuleType("azure.identity")
    identity.DefaultAzureCredential = FakeCredential  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.identity", identity)
    creds = acr_credentials("myregistry.azurecr.io", post=post)
    assert (creds.username, creds.password, creds.method) == (ACR_TOKEN_USERNAME, "acr-refresh", LoginMethod.ACR)
    assert seen["url"] == "https://myregistry.azurecr.io/oauth2/exchange"
    assert seen["data"] == {"grant_type": "access_token", "service": "myregistry.azurecr.io",
                            "access_token": "entra-token"}


# ---- the push stream -------------------------------------------------------------------------------------


def test_a_push_stream_gives_its_digest_from_docker_aux_or_podman_status() -> None:
    docker_stream = [
        {"status": "The push refers to repository [127.0.0.1:5000/demo]"},
        {"status": "Pushed", "progressDetail": {}, "id": "5f70bf18a086"},
        {"status": f"abc: digest: {DIGEST} size: 528"},
        {"progressDetail": {}, "aux": {"Tag": "abc", "Digest": DIGEST, "Size": 528}},
    ]
    podman_stream = [{"status": "The push refers to repository [127.0.0.1:5000/demo:abc]"},
                     {"status": f"abc: digest: {DIGEST} size: 345"}]
    lines: list[str] = []
    assert read_push_stream(docker_stream, where="demo:abc", registry="127.0.0.1:5000", progress=lines.append) == DIGEST
    assert read_push_stream(podman_stream, where="demo:abc", registry="127.0.0.1:5000") == DIGEST
    assert "5f70bf18a086: Pushed" in lines


def test_an_error_line_fails_the_push_with_the_engines_words() -> None:
    stream = [
        {"status": "The push refers to repository [127.0.0.1:5000/demo:abc]"},
        {
            "errorDetail": {"message": 'pinging container registry 127.0.0.1:5000: Get "https://127.0.0.1:5000/v2/": '
                            "http: server gave HTTP response to HTTPS client"},
            "error": "pinging container registry 127.0.0.1:5000: ...",
        },
        {"status": f"abc: digest: {DIGEST} size: 1"},  # nothing after an error line may turn it into a success
    ]
    with pytest.raises(EngineError) as caught:
        read_push_stream(stream, where="127.0.0.1:5000/demo:abc", registry="127.0.0.1:5000")
    message = str(caught.value)
    assert "registry 127.0.0.1:5000 failed" in message
    assert "server gave HTTP response to HTTPS client" in message


def test_a_stream_without_a_digest_is_not_a_success() -> None:
    with pytest.raises(EngineError, match="ended without a digest"):
        read_push_stream([{"status": "Preparing"}], where="demo:abc", registry="r.example")


def test_pushed_image_json() -> None:
    pushed = PushedImage("localhost/mldock/demo:abc", "127.0.0.1:5000/demo", ("abc", "latest"), DIGEST)
    assert pushed.to_json() == {
        "image": "localhost/mldock/demo:abc",
        "repository": "127.0.0.1:5000/demo",
        "tags": ["abc", "latest"],
        "digest": DIGEST,
    }
    assert pushed.reference == f"127.0.0.1:5000/demo@{DIGEST}"


def test_credentials_repr_hides_the_password() -> None:
    creds = Credentials("AWS", "very-secret-token", LoginMethod.ECR, "host")
    assert "very-secret-token" not in repr(creds)


def test_gcp_login_uses_an_access_token_of_the_default_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    google_auth = pytest.importorskip("google.auth")

    class FakeCredentials:
        token: str | None = None

        def refresh(self, request: Any) -> None:
            self.token = "ya29.fake-access-token"

    scopes_seen: list[Any] = []

    def default(scopes: Any = None) -> tuple[FakeCredentials, str]:
        scopes_seen.append(scopes)
        return FakeCredentials(), "my-project"

    monkeypatch.setattr(google_auth, "default", default)
    creds = registry_credentials(Registry.parse("europe-docker.pkg.dev/my-project/images"))
    assert creds is not None
    assert (creds.username, creds.password, creds.method) == ("oauth2accesstoken", "ya29.fake-access-token",
                                                              LoginMethod.GCP)
    assert scopes_seen == [["https://www.googleapis.com/auth/cloud-platform"]]
