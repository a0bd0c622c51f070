"""The public name of mldock's storage emulators: S3 (moto), GCS (fake-gcs-server), Azure Blob (Azurite).

    from emulators import S3Emulator

    with S3Emulator() as s3:
        s3.env()          # AWS_ENDPOINT_URL + dummy credentials, for an SDK or a container

The emulators are developer tooling and live in `mldock.emulators` (they use the engine and image tooling
for their container form); this package only re-exports their public interface under the name the
distribution documents. Nothing is started or imported from a cloud SDK at import time.
"""

from __future__ import annotations

from mldock.emulators import (
    AZURITE_VERSION,
    FAKE_GCS_SERVER_VERSION,
    MOTO_VERSION,
    AzureBlobEmulator,
    Emulator,
    EmulatorError,
    EmulatorNotInstalledError,
    EmulatorStartError,
    EmulatorTimeoutError,
    ExternalEmulator,
    GCSEmulator,
    S3Emulator,
    emulator_for,
    external_emulator,
    wait_until,
)

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
