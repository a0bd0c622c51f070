"""Emulator containers refuse bad settings by name before touching the engine, and keep the Emulator protocol:
start() takes no argument (the network is given when the emulator is made)."""

from __future__ import annotations

import inspect

import pytest

from mldock.emulators.base import Emulator
from mldock.emulators.containers import AzuriteContainer, GCSEmulatorContainer, S3EmulatorContainer
from mldock.errors import UserError


@pytest.mark.parametrize("cls", [S3EmulatorContainer, GCSEmulatorContainer, AzuriteContainer], ids=["s3", "gcs", "az"])
def test_start_takes_no_argument_and_the_network_is_given_at_construction(cls: type[Emulator]) -> None:
    assert list(inspect.signature(cls.start).parameters) == ["self"]
    emulator = cls(network="shared")  # type: ignore[call-arg]
    assert emulator.requested_network == "shared"  # type: ignore[attr-defined]
    assert not emulator.running  # type: ignore[attr-defined]
    assert len(cls.__mro__) == 4  # the class, ContainerEmulator, BucketAdmin, object: no diamond


@pytest.mark.parametrize("port", [-1, 65536], ids=["negative", "too-big"])
def test_a_bad_port_is_refused_by_name(port: int) -> None:
    with pytest.raises(UserError, match=f"s3 emulator container: port {port} is not a TCP port"):
        S3EmulatorContainer(port=port)


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(UserError, match="external must be 'network' or 'host', not 'lan'"):
        GCSEmulatorContainer(external="lan")
    with pytest.raises(UserError, match="connection_mode='gateway' is not a testcontainers connection mode"):
        S3EmulatorContainer(connection_mode="gateway")
