"""Azure Blob emulator: Azurite (pinned, installed by `python -m mldock.emulators.install_azurite`).

    with AzureBlobEmulator() as azure:
        azure.create_bucket("data")                 # a blob container
        env = azure.env()      # AZURE_STORAGE_CONNECTION_STRING for the well-known devstoreaccount1

Azurite binds port 0 and logs the port it got, which is read back: no port race. The current SDK sends an
API version newer than Azurite knows, so `--skipApiVersionCheck` is always passed.

Lookup order for the `azurite-blob` executable: `$MLDOCK_AZURITE_BIN`, then
`${MLDOCK_CACHE_DIR:-~/.cache/mldock}/azurite-<version>/node_modules/.bin/azurite-blob` (where
`python -m mldock.emulators.install_azurite` puts it), then PATH. Azurite 3.36+ needs node >= 21, hence the pin.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mldock.contract import cache_dir
from mldock.emulators._managed import ProcessEmulator
from mldock.emulators._process import EmulatorProcess
from mldock.errors import EmulatorNotInstalledError

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

__all__ = [
    "ACCOUNT_KEY",
    "ACCOUNT_NAME",
    "AZURITE_VERSION",
    "AzureBlobEmulator",
    "azure_env",
    "azurite_prefix",
    "connection_string",
    "find_azurite",
]

AZURITE_VERSION = "3.35.0"
BINARY_VARIABLE = "MLDOCK_AZURITE_BIN"
INSTALL_HINT = (
    f"install it with: python -m mldock.emulators.install_azurite (or scripts/install-azurite.sh; needs node >= 18 "
    f"and npm), or put azurite-blob {AZURITE_VERSION} on PATH, or point {BINARY_VARIABLE} at it"
)


def azurite_prefix(environ: Mapping[str, str] | None = None, version: str = AZURITE_VERSION) -> Path:
    """The npm prefix the pinned Azurite is installed into."""
    env = os.environ if environ is None else environ
    return cache_dir(env) / f"azurite-{version}"


def find_azurite(environ: Mapping[str, str] | None = None) -> Path:
    """The `azurite-blob` executable, or EmulatorNotInstalledError saying how to install it."""
    env = os.environ if environ is None else environ
    override = env.get(BINARY_VARIABLE)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise EmulatorNotInstalledError(f"{BINARY_VARIABLE}={override} is not a file; {INSTALL_HINT}")
        return path
    local = azurite_prefix(env) / "node_modules" / ".bin" / "azurite-blob"
    if local.is_file():
        return local
    on_path = shutil.which("azurite-blob", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    raise EmulatorNotInstalledError(f"Azurite (azurite-blob) not found; {INSTALL_HINT}")


ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's documented development key: public, not a secret."""


def connection_string(endpoint_url: str) -> str:
    """The connection string for Azurite's devstoreaccount1 at `endpoint_url` (http://HOST:PORT)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={endpoint_url}/{ACCOUNT_NAME};"
    )


def azure_env(endpoint_url: str) -> dict[str, str]:
    """AZURE_STORAGE_CONNECTION_STRING for devstoreaccount1 at `endpoint_url`."""
    return {"AZURE_STORAGE_CONNECTION_STRING": connection_string(endpoint_url)}


_PORT_LINE = re.compile(r"Blob service successfully listens on http://\S+:(\d+)")
_IN_USE = re.compile(r"EADDRINUSE")


class AzureBlobEmulator(ProcessEmulator):
    """Azure Blob Storage on Azurite (in-memory), bound to `host`/`port` (0: the OS chooses)."""

    name = "azure"
    scheme = "az"
    default_start_timeout = 60.0

    def _launch(self) -> tuple[EmulatorProcess, int]:
        binary = find_azurite()
        argv = [
            str(binary),
            "--blobHost", self.host,
            "--blobPort", str(self.requested_port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--disableProductStyleUrl",
            "--loose",
        ]  # fmt: skip
        proc = EmulatorProcess("azurite", argv, in_use_pattern=_IN_USE)
        port = proc.start(port_pattern=_PORT_LINE, timeout=self.start_timeout)
        assert port is not None
        return proc, port

    def connection_string(self, host: str | None = None) -> str:
        """The connection string for devstoreaccount1, with `host` in place of 127.0.0.1."""
        return connection_string(self.url_for(host))

    def env(self, host: str | None = None) -> dict[str, str]:
        """AZURE_STORAGE_CONNECTION_STRING, with `host` in place of 127.0.0.1."""
        return azure_env(self.url_for(host))

    def client(self) -> BlobServiceClient:
        """An azure-storage-blob service client for this emulator (the SDK is imported here)."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())
