"""Local stand-ins for cloud blob storage behind one interface: S3 (moto), GCS (fake-gcs-server), Azure Blob
(Azurite), each run as a child process of the caller; as containers in `mldock.emulators.containers`; and
`external_emulator(name, environ)` for one the user runs, found from the SDK's standard variables.

    from mldock.emulators import S3Emulator

    with S3Emulator() as s3:
        s3.create_bucket("data")
        subprocess.run([...], env={**os.environ, **s3.env()})

Nothing is started, imported from a cloud SDK or written to `os.environ` at import time.
"""

from __future__ import annotations

from mldock.emulators.azure import AZURITE_VERSION, AzureBlobEmulator
from mldock.emulators.base import Emulator, wait_until
from mldock.emulators.external import ExternalEmulator, external_emulator
from mldock.emulators.gcs import FAKE_GCS_SERVER_VERSION, GCSEmulator
from mldock.emulators.s3 import MOTO_VERSION, S3Emulator
from mldock.errors import EmulatorError, EmulatorNotInstalledError, EmulatorStartError, EmulatorTimeoutError

__all__ = [
    "AZURITE_VERSION",
    "FAKE_GCS_SERVER_VERSION",
    "MOTO_VERSION",
    "AzureBlobEmulator",
    "Emulator",
    "EmulatorError",
    "EmulatorNotInstalledError",
    "EmulatorStartError",
    "EmulatorTimeoutError",
    "ExternalEmulator",
    "GCSEmulator",
    "S3Emulator",
    "emulator_for",
    "external_emulator",
    "wait_until",
]

_BY_NAME: dict[str, type[S3Emulator | GCSEmulator | AzureBlobEmulator]] = {
    "s3": S3Emulator,
    "gcs": GCSEmulator,
    "gs": GCSEmulator,
    "azure": AzureBlobEmulator,
    "az": AzureBlobEmulator,
}


def emulator_for(name: str, host: str = "127.0.0.1", port: int = 0) -> S3Emulator | GCSEmulator | AzureBlobEmulator:
    """A (not yet started) emulator by name or URI scheme: s3, gcs/gs, azure/az."""
    try:
        cls = _BY_NAME[name]
    except KeyError:
        raise ValueError(f"no emulator named {name!r}; choose one of {', '.join(sorted(_BY_NAME))}") from None
    return cls(host=host, port=port)
