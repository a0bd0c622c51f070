"""Emulators the user runs (`mldock emulators up` in another shell, LocalStack or MinIO from docker compose,
a testcontainers container of their own fixture): found from the SDKs' standard variables or an explicit
endpoint, and used as they are: mldock neither starts nor stops them.

    s3 = external_emulator("s3", os.environ).start()          # AWS_ENDPOINT_URL(_S3): checked that it answers
    gcs = external_emulator("gcs", {}, {"gcs": "http://127.0.0.1:4443"})   # an explicit endpoint wins
    s3.create_bucket("data"); s3.env()                        # bucket administration through mldock's remotes

The variables read per emulator: s3 `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`; gcs `STORAGE_EMULATOR_HOST`
(`host:port` or a URL); azure `AZURE_STORAGE_CONNECTION_STRING` (its BlobEndpoint, or Azurite's default for
`UseDevelopmentStorage=true`). Dummy credentials, region and project fill what the variables leave out, as the
emulators mldock starts have them. An explicit endpoint is a URL (http://HOST:PORT) or a mapping of variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from mldock.emulators._buckets import BucketAdmin
from mldock.emulators._process import http_answers
from mldock.emulators.azure import ACCOUNT_NAME, azure_env
from mldock.emulators.base import wait_until
from mldock.emulators.gcs import DUMMY_PROJECT, gcs_env
from mldock.emulators.s3 import s3_env
from mldock.errors import EmulatorStartError, EmulatorTimeoutError, UserError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ENDPOINT_VARIABLES",
    "Endpoint",
    "ExternalAzureEmulator",
    "ExternalEmulator",
    "ExternalGCSEmulator",
    "ExternalS3Emulator",
    "external_emulator",
    "parse_endpoints",
]

Endpoint = str | Mapping[str, str]
"""An explicit endpoint: a URL, or the SDK variables that reach the emulator."""

ENDPOINT_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "s3": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "gcs": ("STORAGE_EMULATOR_HOST",),
    "azure": ("AZURE_STORAGE_CONNECTION_STRING",),
}
"""Emulator name -> the SDK variables that name its endpoint, first wins."""

_NAMES = {"s3": "s3", "gcs": "gcs", "gs": "gcs", "azure": "azure", "az": "azure"}
_AZURITE_DEFAULT = "http://127.0.0.1:10000"


class ExternalEmulator(BucketAdmin):
    """An emulator someone else runs, reached through `variables` (the SDK's standard ones); `source` says
    where they came from, for error messages. start() checks it answers; stop() leaves it running."""

    variable: ClassVar[str]
    """The variable that carries the endpoint (the one `env(host=...)` rewrites)."""

    def __init__(self, variables: Mapping[str, str], *, source: str, start_timeout: float = 10.0) -> None:
        self.source = source
        self.start_timeout = start_timeout
        self._variables = {**self._defaults(), **variables}
        self.endpoint_url = self._endpoint(self._variables)
        parts = urlsplit(self.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{source}: {self.endpoint_url!r} is not an http(s)://HOST[:PORT] endpoint")
        self.host = parts.hostname
        """The endpoint's host (a loopback one cannot be reached from a bridged container)."""

    # -- what a subclass says ------------------------------------------------------------------------------

    def _defaults(self) -> dict[str, str]:
        raise NotImplementedError

    def _endpoint(self, variables: Mapping[str, str]) -> str:
        raise NotImplementedError

    def _health_url(self) -> str:
        return self.endpoint_url

    # -- the Emulator protocol -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Check the emulator answers (EmulatorStartError naming where its endpoint came from otherwise)."""

        def answers() -> bool:
            return http_answers(self._health_url(), timeout=2.0)

        try:
            wait_until(answers, timeout=self.start_timeout, interval=0.2, what=f"{self.name} emulator")
        except EmulatorTimeoutError as exc:
            raise EmulatorStartError(
                f"the {self.name} emulator at {self.endpoint_url} (from {self.source}) does not answer: {exc}; "
                "start it (e.g. `mldock emulators up`) or point the setting at one that runs"
            ) from None
        return self

    def stop(self) -> None:
        """Nothing: the emulator belongs to whoever started it."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, host: str | None = None) -> dict[str, str]:
        """The SDK variables as given (plus the dummy ones), with `host` in place of the endpoint's host."""
        if host is None or host == self.host:
            return dict(self._variables)
        parts = urlsplit(self.endpoint_url)
        netloc = f"[{host}]" if ":" in host else host
        moved = parts._replace(netloc=f"{netloc}:{parts.port}" if parts.port else netloc).geturl()
        return {**self._variables, self.variable: self._variables[self.variable].replace(self.endpoint_url, moved)}

    def logs(self) -> str:
        return f"(the {self.name} emulator at {self.endpoint_url} is run outside mldock: see its own logs)"

    def _require_running(self) -> None:
        """Always usable: whether it answers is the next request's to tell."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_url} from {self.source})"


class ExternalS3Emulator(ExternalEmulator):
    """An S3 endpoint (moto, LocalStack, MinIO, ...) from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL."""

    name = "s3"
    scheme = "s3"
    variable = "AWS_ENDPOINT_URL"

    def __init__(self, variables: Mapping[str, str], *, source: str, start_timeout: float = 10.0) -> None:
        given = dict(variables)
        if given.get("AWS_ENDPOINT_URL_S3"):  # the service-specific variable wins for boto3 too
            given["AWS_ENDPOINT_URL"] = given.pop("AWS_ENDPOINT_URL_S3")
        super().__init__(given, source=source, start_timeout=start_timeout)

    def _defaults(self) -> dict[str, str]:
        return {key: value for key, value in s3_env("").items() if key != "AWS_ENDPOINT_URL"}

    def _endpoint(self, variables: Mapping[str, str]) -> str:
        return variables.get("AWS_ENDPOINT_URL", "").rstrip("/")


class ExternalGCSEmulator(ExternalEmulator):
    """A GCS endpoint (fake-gcs-server, ...) from STORAGE_EMULATOR_HOST."""

    name = "gcs"
    scheme = "gs"
    variable = "STORAGE_EMULATOR_HOST"

    def _defaults(self) -> dict[str, str]:
        return {key: value for key, value in gcs_env("").items() if key != "STORAGE_EMULATOR_HOST"}

    def _endpoint(self, variables: Mapping[str, str]) -> str:
        value = variables.get("STORAGE_EMULATOR_HOST", "").rstrip("/")
        return value if "://" in value or not value else f"http://{value}"

    def _health_url(self) -> str:
        return f"{self.endpoint_url}/storage/v1/b?project={DUMMY_PROJECT}"


class ExternalAzureEmulator(ExternalEmulator):
    """An Azure Blob endpoint (Azurite) from AZURE_STORAGE_CONNECTION_STRING."""

    name = "azure"
    scheme = "az"
    variable = "AZURE_STORAGE_CONNECTION_STRING"

    def _defaults(self) -> dict[str, str]:
        return {}

    def _endpoint(self, variables: Mapping[str, str]) -> str:
        text = variables.get("AZURE_STORAGE_CONNECTION_STRING", "")
        fields = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
        if fields.get("UseDevelopmentStorage", "").lower() == "true" and "BlobEndpoint" not in fields:
            return _AZURITE_DEFAULT
        blob = fields.get("BlobEndpoint", "").rstrip("/")
        parts = urlsplit(blob)
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else blob

    def env(self, host: str | None = None) -> dict[str, str]:
        text = self._variables["AZURE_STORAGE_CONNECTION_STRING"]
        if "BlobEndpoint=" not in text:  # UseDevelopmentStorage=true: spell the endpoint out, to move it
            return (
                azure_env(self.endpoint_url) if host is None else azure_env(self.endpoint_url.replace(self.host, host))
            )
        return super().env(host)

    def _health_url(self) -> str:
        return f"{self.endpoint_url}/{ACCOUNT_NAME}?comp=list"


_CLASSES: Mapping[str, type[ExternalEmulator]] = {
    "s3": ExternalS3Emulator,
    "gcs": ExternalGCSEmulator,
    "azure": ExternalAzureEmulator,
}


def external_emulator(
    name: str, environ: Mapping[str, str], endpoints: Mapping[str, Endpoint] | None = None
) -> ExternalEmulator:
    """The user's emulator `name` (s3, gcs/gs, azure/az): from `endpoints` when it names it, else from the
    SDK variables in `environ` (only read). UserError naming what to set when neither has it."""
    try:
        key = _NAMES[name]
    except KeyError:
        raise UserError(f"no emulator named {name!r}; choose one of {', '.join(sorted(_NAMES))}") from None
    cls = _CLASSES[key]
    given = {_NAMES.get(k, k): v for k, v in (endpoints or {}).items()}
    if key in given:
        value = given[key]
        if isinstance(value, str):
            url = value.rstrip("/")
            variables = {"AZURE_STORAGE_CONNECTION_STRING": azure_env(url)[cls.variable]} if key == "azure" else {}
            variables = variables or {cls.variable: url}
            return cls(variables, source=f"the endpoint given for {key} ({url})")
        return cls(dict(value), source=f"the variables given for {key}")
    for variable in ENDPOINT_VARIABLES[key]:
        if environ.get(variable, "").strip():
            relevant = {k: v for k, v in environ.items() if k in _SDK_SETTINGS[key]}
            return cls(relevant, source=variable if key == "azure" else f"{variable}={environ[variable]}")
    names = " or ".join(ENDPOINT_VARIABLES[key])
    raise UserError(
        f'external emulators: nothing names the {key} emulator; set {names} (e.g. eval "$(mldock emulators env)") '
        f"or give its endpoint ({key}=http://HOST:PORT)"
    )


_SDK_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "s3": (
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ),
    "gcs": ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"),
    "azure": ("AZURE_STORAGE_CONNECTION_STRING",),
}
"""What is taken from the environment for each emulator (nothing else of it reaches the remotes)."""


def parse_endpoints(lines: Iterable[str], *, where: str) -> dict[str, str]:
    """`NAME=URL` lines (blank lines skipped) -> {name: url}; UserError naming `where` and the bad line."""
    endpoints: dict[str, str] = {}
    for line in lines:
        text = line.strip()
        if not text:
            continue
        name, sep, url = text.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or name not in _NAMES or not url:
            raise UserError(
                f"{where}: {text!r} is not NAME=URL with NAME one of {', '.join(sorted(_NAMES))} "
                "(e.g. s3=http://127.0.0.1:9000)"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{where}: {text!r}: {url!r} is not an http(s)://HOST[:PORT] endpoint")
        if _NAMES[name] in endpoints:
            raise UserError(f"{where}: the {_NAMES[name]} emulator is given twice")
        endpoints[_NAMES[name]] = url
    return endpoints
