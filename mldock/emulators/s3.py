"""S3 emulator: moto's server in a child process.

    with S3Emulator() as s3:
        s3.create_bucket("data")
        env = s3.env()          # AWS_ENDPOINT_URL + dummy credentials: give it to the SDK or a container
        boto3.client("s3", **s3.client_kwargs()).list_buckets()

moto runs in its own process (not a thread of the caller) so its state and its GIL are its own: several
emulators in one test session do not share buckets, and transfers are not slowed by the caller's threads.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import urllib.request
from typing import TYPE_CHECKING, Any

from mldock.emulators._managed import ProcessEmulator
from mldock.emulators._process import EmulatorProcess
from mldock.errors import EmulatorError, EmulatorNotInstalledError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["MOTO_VERSION", "S3Emulator", "s3_client_kwargs", "s3_env"]

MOTO_VERSION = "5.2.5"
"""The moto release the project pins (extra `emulators`)."""

DUMMY_ACCESS_KEY = "testing"
DUMMY_SECRET_KEY = "testing"  # moto accepts any credentials
DEFAULT_REGION = "us-east-1"

_PORT_LINE = re.compile(r"Running on http://[^\s:]+:(\d+)")
_IN_USE = re.compile(r"Address already in use|address already in use")


def s3_env(endpoint_url: str) -> dict[str, str]:
    """AWS_ENDPOINT_URL at `endpoint_url`, with dummy credentials and a region (what any moto needs)."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
    }


def s3_client_kwargs(endpoint_url: str) -> dict[str, Any]:
    """Keyword arguments for `boto3.client("s3", ...)` reaching a moto at `endpoint_url`."""
    return {
        "endpoint_url": endpoint_url,
        "aws_access_key_id": DUMMY_ACCESS_KEY,
        "aws_secret_access_key": DUMMY_SECRET_KEY,
        "region_name": DEFAULT_REGION,
    }


class S3Emulator(ProcessEmulator):
    """S3 on moto's server, bound to `host` (default 127.0.0.1) and `port` (0: the OS chooses)."""

    name = "s3"
    scheme = "s3"
    default_start_timeout = 60.0

    def _launch(self) -> tuple[EmulatorProcess, int]:
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise EmulatorNotInstalledError(
                f"moto's server is not installed in {sys.executable}; "
                f"install it with: pip install 'mldock[emulators]' (or 'moto[s3]=={MOTO_VERSION}' flask flask-cors)"
            )
        argv = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.requested_port)]
        # Path-style only: otherwise moto takes the first label of a host name such as host.containers.internal
        # (how a bridged container reaches the host) for a bucket name.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "S3_IGNORE_SUBDOMAIN_BUCKETNAME": "true"}
        proc = EmulatorProcess("moto", argv, env=env, in_use_pattern=_IN_USE)
        port = proc.start(port_pattern=_PORT_LINE, timeout=self.start_timeout)
        assert port is not None
        self._port = port
        proc.wait_http(f"{self.url_for()}/moto-api/data.json", timeout=self.start_timeout)
        return proc, port

    def env(self, host: str | None = None) -> dict[str, str]:
        """AWS_ENDPOINT_URL, dummy credentials and a region, with `host` in place of 127.0.0.1."""
        return s3_env(self.url_for(host))

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `boto3.client("s3", ...)` that reach this emulator from the host."""
        return s3_client_kwargs(self.endpoint_url)

    def client(self) -> S3Client:
        """A boto3 S3 client for this emulator (boto3 is imported here, not at module import)."""
        import boto3

        return boto3.client("s3", **self.client_kwargs())

    def reset(self) -> None:
        """Forget every bucket and object (moto's own reset API: one request)."""
        self._require_running()
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 200:
                raise EmulatorError(f"moto reset answered HTTP {response.status}", log_tail=self.logs())
