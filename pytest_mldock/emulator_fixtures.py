"""Session-scoped, lazy emulator fixtures: `s3_emulator`, `gcs_emulator`, `azure_blob_emulator`.

    def test_upload(s3_emulator):
        s3_emulator.create_bucket("data")
        boto3.client("s3", endpoint_url=s3_emulator.endpoint_url, ...)

An emulator starts the first time a test of this worker asks for it (directly, or through `mldock_storage`
when a channel uses its scheme) and stops at the end of the session. Under pytest-xdist every worker starts
its own, on a port the OS chooses: no port clash, no cross-process teardown to coordinate, nothing left
behind. Under a production stage no emulator starts: a test that asks for one is skipped, with the reason.

With `--mldock-emulators=external` (ini `mldock_emulators = external`) no emulator of mldock's own starts: the
fixtures stand for the ones the user runs, found from `mldock_emulator_endpoints` (override it in a conftest
to hand over an emulator of your own, e.g. a testcontainers container), then the ini lines
`mldock_emulator_endpoints = s3=http://127.0.0.1:9000`, then the SDK variables (AWS_ENDPOINT_URL,
STORAGE_EMULATOR_HOST, AZURE_STORAGE_CONNECTION_STRING). Buckets stay per test (`mldock_storage` names them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from mldock.emulators import AzureBlobEmulator, GCSEmulator, S3Emulator, external_emulator
from mldock.emulators.external import Endpoint, parse_endpoints
from mldock.errors import MldockError
from pytest_mldock.naming import worker_id
from pytest_mldock.state import KeptEmulator, session_state

if TYPE_CHECKING:
    from mldock.emulators.base import Emulator

__all__ = [
    "EMULATOR_FIXTURES",
    "EmulatorConfig",
    "azure_blob_emulator",
    "gcs_emulator",
    "mldock_emulator_config",
    "mldock_emulator_endpoints",
    "mldock_emulator_network",
    "s3_emulator",
]

EMULATOR_FIXTURES = {"s3": "s3_emulator", "gs": "gcs_emulator", "az": "azure_blob_emulator"}
"""URI scheme -> the fixture that provides its emulator."""


@dataclass(frozen=True)
class EmulatorConfig:
    """How the plugin starts emulators; override the `mldock_emulator_config` fixture to change it.

        @pytest.fixture(scope="session")
        def mldock_emulator_config():
            return EmulatorConfig(host="0.0.0.0", start_timeout=120)
    """

    host: str = "127.0.0.1"
    """Address the emulators bind (host processes) or publish on (containers)."""
    start_timeout: float | None = None
    """Seconds to wait for an emulator to answer (None: the emulator's own default)."""


@pytest.fixture(scope="session")
def mldock_emulator_config() -> EmulatorConfig:
    """How emulators are started (override in a conftest.py to change host or start timeout)."""
    return EmulatorConfig()


@pytest.fixture(scope="session")
def mldock_emulator_endpoints(pytestconfig: pytest.Config) -> Mapping[str, Endpoint]:
    """With --mldock-emulators=external: the emulators you run, {name: URL or SDK variables} (names s3, gcs,
    azure); by default the ini lines `mldock_emulator_endpoints`. Names it leaves out come from the SDK variables.

        @pytest.fixture(scope="session")
        def mldock_emulator_endpoints():
            with DockerContainer("localhost/my-moto").with_exposed_ports(5000) as moto:
                yield {"s3": f"http://127.0.0.1:{moto.get_exposed_port(5000)}"}
    """
    return _ini_endpoints(pytestconfig)


def _ini_endpoints(config: pytest.Config) -> dict[str, str]:
    lines = config.getini("mldock_emulator_endpoints")
    try:
        return parse_endpoints(lines if isinstance(lines, list) else [], where="ini mldock_emulator_endpoints")
    except MldockError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def s3_emulator(request: pytest.FixtureRequest, mldock_emulator_config: EmulatorConfig) -> Iterator[Emulator]:
    """An S3 emulator (moto) for the session: `endpoint_url`, `env()`, `create_bucket(name)`."""
    yield from _run_emulator(request, "s3", mldock_emulator_config)


@pytest.fixture(scope="session")
def gcs_emulator(request: pytest.FixtureRequest, mldock_emulator_config: EmulatorConfig) -> Iterator[Emulator]:
    """A GCS emulator (fake-gcs-server) for the session: `endpoint_url`, `env()`, `create_bucket(name)`."""
    yield from _run_emulator(request, "gcs", mldock_emulator_config)


@pytest.fixture(scope="session")
def azure_blob_emulator(
    request: pytest.FixtureRequest, mldock_emulator_config: EmulatorConfig
) -> Iterator[Emulator]:
    """An Azure Blob emulator (Azurite) for the session: `endpoint_url`, `env()`, `create_bucket(name)`."""
    yield from _run_emulator(request, "azure", mldock_emulator_config)


def _run_emulator(request: pytest.FixtureRequest, name: str, config: EmulatorConfig) -> Iterator[Emulator]:
    state = session_state(request.config)
    _refuse_under_production(request, name)
    mode = state.settings.emulators
    if mode == "external":
        yield _external(request, name)
        return
    network: str | None = request.getfixturevalue("mldock_emulator_network") if mode == "container" else None
    emulator = _make(name, mode, config, network)
    try:
        emulator.start()
    except BaseException:
        emulator.stop()
        raise
    state.started.append(emulator)
    try:
        yield emulator
    finally:
        if state.settings.keep:
            state.kept.append(KeptEmulator(emulator.name, emulator.endpoint_url, emulator.stop))
        else:
            emulator.stop()


def _external(request: pytest.FixtureRequest, name: str) -> Emulator:
    """The user's emulator `name`, checked to answer; never stopped by the plugin (it is not its own)."""
    endpoints: Mapping[str, Endpoint] = request.getfixturevalue("mldock_emulator_endpoints")
    try:
        return external_emulator(name, os.environ, endpoints).start()
    except MldockError as exc:
        pytest.fail(f"mldock: --mldock-emulators=external: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def mldock_emulator_network(pytestconfig: pytest.Config) -> Iterator[str]:
    """With --mldock-emulators=container: the one engine network this worker's emulator containers share
    (a task container of the docker runner joins it to reach them by alias)."""
    # lazy: docker-py loads only when a session runs emulator containers (the plugin loads in every pytest run)
    from mldock.emulators.containers import create_network
    from mldock.engine import ResourceTracker, connect

    client = connect()
    tracker = ResourceTracker(client, labels={"io.mldock.pytest": "emulators"})
    network = create_network(client, tracker)
    try:
        yield str(network.name)
    finally:
        if session_state(pytestconfig).settings.keep:
            session_state(pytestconfig).deferred.append(tracker.close)
        else:
            tracker.close()


def _refuse_under_production(request: pytest.FixtureRequest, name: str) -> None:
    state = session_state(request.config)
    if state.settings.project is None:
        return
    stage = state.project().stage(state.settings.stage)
    if stage.production:
        pytest.skip(
            f"mldock: stage {stage.name!r} is a production stage: no {name} emulator starts "
            "(the test runs against the real storage the stage names)"
        )


def _make(name: str, mode: str, config: EmulatorConfig, network: str | None) -> Emulator:
    if mode == "container":
        from mldock.emulators.containers import (  # lazy: docker-py, see mldock_emulator_network
            AzuriteContainer,
            GCSEmulatorContainer,
            S3EmulatorContainer,
        )

        containers: dict[str, type[S3EmulatorContainer | GCSEmulatorContainer | AzuriteContainer]] = {
            "s3": S3EmulatorContainer,
            "gcs": GCSEmulatorContainer,
            "azure": AzuriteContainer,
        }
        labels = {"io.mldock.pytest.worker": worker_id()}
        return containers[name](network=network, labels=labels, start_timeout=config.start_timeout)
    from mldock.emulators import AzureBlobEmulator, GCSEmulator, S3Emulator

    classes: dict[str, type[S3Emulator | GCSEmulator | AzureBlobEmulator]] = {
        "s3": S3Emulator,
        "gcs": GCSEmulator,
        "azure": AzureBlobEmulator,
    }
    return classes[name](host=config.host, port=0, start_timeout=config.start_timeout)
