"""External emulators: found from the SDK variables or an explicit endpoint, refused by name when nothing
names them; a closed port fails start() naming where the endpoint came from. The testcontainers connection
mode: explicit, else the variable, else docker_host."""

from __future__ import annotations

import pytest
from testcontainers.core.config import ConnectionMode

from mldock.emulators import ExternalEmulator, external_emulator
from mldock.emulators._process import pick_port
from mldock.emulators.containers import resolve_connection_mode
from mldock.emulators.external import parse_endpoints
from mldock.errors import EmulatorStartError, UserError

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.mark.parametrize(
    ("name", "environ", "endpoint"),
    [
        ("s3", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000/"}, "http://127.0.0.1:9000"),
        (
            "s3",
            {"AWS_ENDPOINT_URL": "http://other:1", "AWS_ENDPOINT_URL_S3": "http://localstack:4566"},
            "http://localstack:4566",
        ),
        ("gcs", {"STORAGE_EMULATOR_HOST": "localhost:4443"}, "http://localhost:4443"),
        ("gs", {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443"}, "http://127.0.0.1:4443"),
        (
            "azure",
            {
                "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:10010/devstoreaccount1;"
            },
            "http://127.0.0.1:10010",
        ),
        ("az", {"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, "http://127.0.0.1:10000"),
    ],
    ids=["aws-endpoint-url", "service-specific-wins", "gcs-host-port", "gcs-url", "azure-blob-endpoint", "azure-dev"],
)
def test_found_from_the_sdk_variables(name: str, environ: dict[str, str], endpoint: str) -> None:
    emulator = external_emulator(name, environ)
    assert isinstance(emulator, ExternalEmulator)
    assert emulator.endpoint_url == endpoint
    assert AZURITE_KEY not in repr(emulator)


def test_the_s3_variables_get_dummy_credentials_unless_given() -> None:
    env = external_emulator("s3", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "me"}).env()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert env["AWS_ACCESS_KEY_ID"] == "me"
    assert env["AWS_SECRET_ACCESS_KEY"]
    assert env["AWS_DEFAULT_REGION"]
    assert "HOME" not in external_emulator("s3", {"AWS_ENDPOINT_URL": "http://h:1", "HOME": "/root"}).env()


def test_an_explicit_endpoint_wins_over_the_variables() -> None:
    environ = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
    }
    endpoints = {"s3": "http://127.0.0.1:9000", "az": "http://127.0.0.1:10999"}
    assert external_emulator("s3", environ, endpoints).endpoint_url == "http://127.0.0.1:9000"
    azure = external_emulator("azure", environ, endpoints)
    assert "BlobEndpoint=http://127.0.0.1:10999/devstoreaccount1" in azure.env()["AZURE_STORAGE_CONNECTION_STRING"]
    variables = {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:4000", "GOOGLE_CLOUD_PROJECT": "mine"}
    assert external_emulator("gcs", {}, {"gcs": variables}).env() == variables


def test_env_moves_the_endpoint_to_another_host() -> None:
    s3 = external_emulator("s3", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"})
    assert s3.host == "127.0.0.1"
    assert s3.env(host="host.containers.internal")["AWS_ENDPOINT_URL"] == "http://host.containers.internal:9000"
    azure = external_emulator("azure", {"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"})
    moved = azure.env(host="gw")["AZURE_STORAGE_CONNECTION_STRING"]
    assert "BlobEndpoint=http://gw:10000/devstoreaccount1" in moved


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("s3", "AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL"), ("gcs", "STORAGE_EMULATOR_HOST"), ("azure", "AZURE_STORAGE")],
    ids=["s3", "gcs", "azure"],
)
def test_nothing_names_it_is_a_user_error_saying_what_to_set(name: str, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        external_emulator(name, {"AWS_ENDPOINT_URL": ""} if name == "s3" else {})


def test_a_bad_endpoint_or_name_is_refused_by_name() -> None:
    with pytest.raises(UserError, match="AWS_ENDPOINT_URL=ftp://x: 'ftp://x' is not an http"):
        external_emulator("s3", {"AWS_ENDPOINT_URL": "ftp://x"})
    with pytest.raises(UserError, match="no emulator named 'minio'"):
        external_emulator("minio", {})


def test_a_closed_port_fails_start_naming_the_source() -> None:
    port = pick_port()
    emulator = external_emulator("s3", {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    emulator.start_timeout = 0.5
    with pytest.raises(EmulatorStartError, match=f"from AWS_ENDPOINT_URL=http://127.0.0.1:{port}.*does not answer"):
        emulator.start()
    emulator.stop()  # never anything to stop: not mldock's


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["s3=http://127.0.0.1:9000", "", " gs = http://h:4443 "],
            {"s3": "http://127.0.0.1:9000", "gcs": "http://h:4443"},
        ),
        ([], {}),
    ],
    ids=["two", "none"],
)
def test_endpoint_lines_parse(lines: list[str], expected: dict[str, str]) -> None:
    assert parse_endpoints(lines, where="ini x") == expected


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("s3", "is not NAME=URL"),
        ("s4=http://h:1", "is not NAME=URL"),
        ("s3=h:1", "is not an http"),
        ("s3=", "NAME=URL"),
    ],
    ids=["no-url", "unknown", "no-scheme", "empty"],
)
def test_bad_endpoint_lines_are_refused_by_name(line: str, fragment: str) -> None:
    with pytest.raises(UserError, match=f"ini x: .*{fragment}"):
        parse_endpoints([line], where="ini x")
    with pytest.raises(UserError, match="given twice"):
        parse_endpoints(["s3=http://a:1", "s3=http://b:1"], where="ini x")


def test_connection_mode_explicit_then_variable_then_docker_host() -> None:
    assert resolve_connection_mode("bridge_ip", {}) is ConnectionMode.bridge_ip
    assert resolve_connection_mode(ConnectionMode.gateway_ip, {}) is ConnectionMode.gateway_ip
    assert resolve_connection_mode(None, {"TESTCONTAINERS_CONNECTION_MODE": "gateway_ip"}) is ConnectionMode.gateway_ip
    assert resolve_connection_mode(None, {}) is ConnectionMode.docker_host
    with pytest.raises(UserError, match="TESTCONTAINERS_CONNECTION_MODE='host' is not a testcontainers connection"):
        resolve_connection_mode(None, {"TESTCONTAINERS_CONNECTION_MODE": "host"})
