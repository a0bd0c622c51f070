"""Where an image is pushed and how mldock logs in there: a registry value, the login method its host calls
for, and the credentials that method yields (handed to the engine per request, never stored or printed).

    registry = Registry.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team")
    login_method(registry.host)                    # LoginMethod.ECR
    creds = registry_credentials(registry)         # boto3's get_authorization_token, or None
    creds.auth_config() if creds else None         # what docker-py's push(auth_config=...) takes

Rules:
- An explicit `username` (with a password) always wins: plain username/password login.
- Otherwise the host decides: ECR (`<account>.dkr.ecr.<region>.amazonaws.com`), Artifact Registry / Container
  Registry (`*-docker.pkg.dev`, `gcr.io`, `*.gcr.io`) and ACR (`<name>.azurecr.io`) each get a short-lived token
  from their own SDK, when that SDK is installed; any other host pushes with what the engine already has
  (its own stored logins, or anonymously).
- A password never reaches a message: `Credentials.mask` replaces it wherever it might be echoed back.
"""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mldock.errors import ToolingError, UserError

__all__ = [
    "ACR_TOKEN_USERNAME",
    "GCP_TOKEN_USERNAME",
    "Credentials",
    "LoginMethod",
    "Registry",
    "login_method",
    "registry_credentials",
]

GCP_TOKEN_USERNAME = "oauth2accesstoken"
ACR_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"
"""The user name ACR expects with a refresh token (what `az acr login` uses)."""

_ECR = re.compile(
    r"^(?P<account>\d{12})\.dkr[.-]ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.(amazonaws\.com(\.cn)?|on\.aws)$"
)
_GCP = re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|gcr\.io|[a-z0-9-]+\.gcr\.io)$")
_ACR = re.compile(r"^[a-z0-9]{5,50}\.azurecr\.(io|cn|us)$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$")
_PATH_PART = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*$")
_GCP_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_ARM_SCOPE = "https://management.azure.com/.default"


class LoginMethod(enum.Enum):
    """How mldock logs in to a registry."""

    ENGINE = "engine"
    """Nothing of mldock's: the engine's own stored logins, or anonymous."""
    PASSWORD = "password"
    ECR = "ecr"
    GCP = "gcp"
    ACR = "acr"


@dataclass(frozen=True)
class Registry:
    """A registry host (with its port) and an optional namespace: `HOST[:PORT][/NAMESPACE]`."""

    host: str
    namespace: str = ""

    @classmethod
    def parse(cls, value: str) -> Registry:
        """Read `HOST[:PORT][/NAMESPACE]` (UserError saying what is wrong)."""
        text = value.strip().rstrip("/")
        if "://" in text:
            raise UserError(
                f"registry {value!r}: give it as HOST[:PORT][/NAMESPACE], without a scheme "
                "(for a plain-HTTP registry add --insecure)"
            )
        host, _, namespace = text.partition("/")
        if not host or not _HOST.match(host):
            raise UserError(f"registry {value!r}: {host!r} is not a host name with an optional :PORT")
        for part in namespace.split("/") if namespace else ():
            if not _PATH_PART.match(part):
                raise UserError(
                    f"registry {value!r}: namespace part {part!r} must be lower-case letters and digits, "
                    "separated by '.', '_' or '-'"
                )
        return cls(host, namespace)

    def repository(self, name: str) -> str:
        """The repository for image `name` in this registry: `HOST[:PORT]/[NAMESPACE/]name`."""
        return "/".join(part for part in (self.host, self.namespace, name) if part)

    def __str__(self) -> str:
        return self.repository("")


@dataclass(frozen=True)
class Credentials:
    """A login for one registry; the password is kept out of repr and masked in messages."""

    username: str
    password: str = field(repr=False)
    method: LoginMethod
    server: str

    def auth_config(self) -> dict[str, str]:
        """The `auth_config` docker-py sends in the X-Registry-Auth header of that one request."""
        return {"username": self.username, "password": self.password, "serveraddress": self.server}

    def mask(self, text: str) -> str:
        """`text` with the password (and its base64 forms) replaced by `***`."""
        secrets = {self.password, base64.b64encode(f"{self.username}:{self.password}".encode()).decode()}
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


def login_method(host: str, *, username: str | None = None) -> LoginMethod:
    """The login the registry `host` gets: an explicit username wins, then the cloud its name matches."""
    if username:
        return LoginMethod.PASSWORD
    bare = host.lower().split(":", 1)[0]
    if _ECR.match(bare):
        return LoginMethod.ECR
    if _GCP.match(bare):
        return LoginMethod.GCP
    if _ACR.match(bare):
        return LoginMethod.ACR
    return LoginMethod.ENGINE


def registry_credentials(
    registry: Registry,
    *,
    username: str | None = None,
    password: str | None = None,
    missing_sdk: Callable[[str], None] | None = None,
) -> Credentials | None:
    """The credentials for `registry`, or None when the engine's own logins are to be used.

    A cloud registry whose SDK is not installed falls back to the engine's own logins (after telling
    `missing_sdk`, when given, which package would log in). Raises UserError for a username without a
    password (or the other way round) and ToolingError when a cloud's token call fails.
    """
    if password and not username:
        raise UserError("a registry password was given without --username")
    method = login_method(registry.host, username=username)
    if method is LoginMethod.PASSWORD:
        if not password:
            raise UserError(
                f"--username {username} needs a password: pipe it to --password-stdin or set MLDOCK_REGISTRY_PASSWORD"
            )
        assert username is not None
        return Credentials(username, password, method, registry.host)
    if method is LoginMethod.ENGINE:
        return None
    fetch, package = _FETCHERS[method]
    try:
        return fetch(registry.host)
    except _SdkMissing:
        if missing_sdk is not None:
            missing_sdk(
                f"{registry.host} looks like {method.name}, but {package} is not installed: pushing with the "
                f"engine's own login (pip install {package} to let mldock log in)"
            )
        return None


class _SdkMissing(Exception):
    pass


def ecr_credentials(host: str) -> Credentials:
    """ECR: boto3's `ecr.get_authorization_token` for the account and region the host names."""
    match = _ECR.match(host.lower().split(":", 1)[0])
    if match is None:
        raise UserError(f"{host} is not an ECR registry host")
    try:
        import boto3
        import botocore.exceptions as be
    except ImportError as exc:
        raise _SdkMissing from exc
    try:
        client = boto3.client("ecr", region_name=match["region"])
        answer = client.get_authorization_token(registryIds=[match["account"]])
        token = answer["authorizationData"][0]["authorizationToken"]
    except (be.BotoCoreError, be.ClientError, KeyError, IndexError) as exc:
        raise ToolingError(
            f"logging in to ECR {host} failed: get_authorization_token: {type(exc).__name__}: {exc}; "
            "check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...) and the ecr:GetAuthorizationToken "
            "permission"
        ) from exc
    username, _, secret = base64.b64decode(token).decode().partition(":")
    return Credentials(username, secret, LoginMethod.ECR, host)


def gcp_credentials(host: str) -> Credentials:
    """Artifact Registry / Container Registry: an access token of google.auth's default credentials."""
    try:
        import google.auth
        import google.auth.exceptions as ge
        import google.auth.transport.requests as gr
    except ImportError as exc:
        raise _SdkMissing from exc
    try:
        credentials, _project = google.auth.default(scopes=[_GCP_SCOPE])
        credentials.refresh(gr.Request())  # type: ignore[no-untyped-call]
        token = credentials.token
    except ge.GoogleAuthError as exc:
        raise ToolingError(
            f"logging in to {host} failed: {type(exc).__name__}: {exc}; set GOOGLE_APPLICATION_CREDENTIALS or run "
            "`gcloud auth application-default login`"
        ) from exc
    if not token:
        raise ToolingError(f"logging in to {host} failed: google.auth gave no access token")
    return Credentials(GCP_TOKEN_USERNAME, str(token), LoginMethod.GCP, host)


def acr_credentials(host: str, *, post: Callable[..., Any] | None = None) -> Credentials:
    """ACR: an Entra ID token from azure-identity's DefaultAzureCredential, exchanged at the registry's
    `/oauth2/exchange` for an ACR refresh token (the exchange `az acr login` makes)."""
    try:
        from azure.core.exceptions import AzureError
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise _SdkMissing from exc
    if post is None:
        import requests

        post = requests.post
    try:
        aad_token = DefaultAzureCredential().get_token(_ARM_SCOPE).token
        response = post(
            f"https://{host}/oauth2/exchange",
            data={"grant_type": "access_token", "service": host, "access_token": aad_token},
            timeout=30,
        )
        response.raise_for_status()
        refresh_token = response.json()["refresh_token"]
    except (AzureError, OSError, KeyError, ValueError) as exc:
        detail = str(exc).replace(locals().get("aad_token") or "\0", "***")
        raise ToolingError(
            f"logging in to ACR {host} failed: {type(exc).__name__}: {detail}; sign in (`az login`, a managed "
            "identity or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET) with the AcrPush role on the registry"
        ) from exc
    return Credentials(ACR_TOKEN_USERNAME, str(refresh_token), LoginMethod.ACR, host)


_FETCHERS: dict[LoginMethod, tuple[Callable[[str], Credentials], str]] = {
    LoginMethod.ECR: (ecr_credentials, "boto3"),
    LoginMethod.GCP: (gcp_credentials, "google-auth"),
    LoginMethod.ACR: (acr_credentials, "azure-identity"),
}
