"""What of the host's filesystem a task container sees: `file://` channels and the files SDK variables name.

    plan = container_mounts(variables, home=Path.home())
    plan.environment      # the variables with host paths rewritten to where they are mounted in the container
    plan.mounts           # [Mount(source="/host/data", target="/mldock/host/channels/input/train/data", ...)]
    client.containers.create(image, environment=plan.environment, mounts=[m.engine_spec() for m in plan.mounts])

The process runner is the reference: its task reads and writes the host's paths directly. In a container:

* an input or input-model channel `file:///host/dir` is bind-mounted read-only at
  `/mldock/host/channels/<kind>/<name>/<basename>` and the channel variable says
  `file:///mldock/host/channels/<kind>/<name>/<basename>`: startup() copies from there as it would from the
  host folder (a missing host path is not mounted, so the task fails with the same "not found" as on the host);
* an output or output-model channel `file:///host/results/run-1` has its parent folder (the folder the `file`
  remote treats as the bucket) bind-mounted read-write at `/mldock/host/channels/<kind>/<name>`, and the
  variable says `file:///mldock/host/channels/<kind>/<name>/run-1`: cleanup() creates `run-1` and writes into it
  on the host. A missing parent is created first only when `MLDOCK_CREATE_MISSING_BUCKETS` is on (as the
  `file` remote would); otherwise nothing is mounted and the upload fails as it would on the host;
* a variable naming a credential file or CA bundle (GOOGLE_APPLICATION_CREDENTIALS, AWS_SHARED_CREDENTIALS_FILE,
  AWS_CONFIG_FILE, AWS_CA_BUNDLE, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, SSL_CERT_DIR, CURL_CA_BUNDLE,
  AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE, and MLDOCK_HYPERPARAMETERS_FILE, the file the
  runners hand hyperparameters in) is mounted read-only at `/mldock/host/files/<NAME>`
  and rewritten to point there, when it names an existing host path;
* `~/.aws/config` and `~/.aws/credentials` (when present and not already named by AWS_CONFIG_FILE /
  AWS_SHARED_CREDENTIALS_FILE) are mounted read-only the same way and named by those variables, so profiles
  work in a container whatever its user's home is.

Everything else of the host stays out of the container. Symbolic links are resolved before mounting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mldock.contract import CREATE_MISSING_BUCKETS, HYPERPARAMETERS_FILE_VARIABLE, is_truthy
from mldock.errors import ChannelError
from mldock.runtime.channels import Channel, parse_channels
from mldock.storage.uri import RemoteURI

__all__ = ["CONTAINER_HOST_ROOT", "FILE_VARIABLES", "Mount", "MountPlan", "container_mounts"]

CONTAINER_HOST_ROOT = "/mldock/host"
"""Where host paths appear inside a task container."""

FILE_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CA_BUNDLE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    HYPERPARAMETERS_FILE_VARIABLE,
)
"""SDK variables (and mldock's hyperparameters file) whose value is a host path: mounted read-only and rewritten."""

_AWS_HOME_FILES = {"AWS_CONFIG_FILE": "config", "AWS_SHARED_CREDENTIALS_FILE": "credentials"}


@dataclass(frozen=True)
class Mount:
    """One bind mount of a host path into the task container."""

    source: str
    target: str
    read_only: bool = True

    def engine_spec(self) -> dict[str, Any]:
        """The Engine API's `HostConfig.Mounts` entry (what docker-py's `mounts=` passes through)."""
        return {"Type": "bind", "Source": self.source, "Target": self.target, "ReadOnly": self.read_only}


@dataclass(frozen=True)
class MountPlan:
    """The container's variables (host paths rewritten) and the bind mounts that make them true."""

    environment: Mapping[str, str]
    mounts: tuple[Mount, ...] = field(default_factory=tuple)


def container_mounts(variables: Mapping[str, str], *, home: Path | None = None) -> MountPlan:
    """Mount the host paths `variables` name (see the module docstring); `home` holds `.aws` (None: none)."""
    environment = dict(variables)
    mounts: list[Mount] = []
    for channel in _channels(variables):
        if channel.uri.scheme == "file":
            mount, uri = _channel_mount(channel, create_parent=is_truthy(variables.get(CREATE_MISSING_BUCKETS)))
            environment[channel.variable] = str(uri)
            if mount is not None:
                mounts.append(mount)
    for name in FILE_VARIABLES:
        value = variables.get(name)
        if value and os.path.isabs(value) and os.path.exists(value):
            target = f"{CONTAINER_HOST_ROOT}/files/{name}"
            mounts.append(Mount(os.path.realpath(value), target))
            environment[name] = target
    if home is not None:
        for name, file_name in _AWS_HOME_FILES.items():
            path = home / ".aws" / file_name
            if name not in variables and path.is_file():
                target = f"{CONTAINER_HOST_ROOT}/files/{name}"
                mounts.append(Mount(os.path.realpath(path), target))
                environment[name] = target
    return MountPlan(environment=environment, mounts=tuple(mounts))


def _channels(variables: Mapping[str, str]) -> tuple[Channel, ...]:
    try:
        return parse_channels(variables, Path("/"))
    except ChannelError:
        return ()  # the task reports the bad variable itself, naming it, as under the process runner


def _channel_mount(channel: Channel, *, create_parent: bool) -> tuple[Mount | None, RemoteURI]:
    """The mount for a `file://` channel and the URI the container sees."""
    host = Path(os.path.realpath(channel.uri.prefix))
    folder = f"{CONTAINER_HOST_ROOT}/channels/{channel.kind.value}/{channel.name}"
    inside = f"{folder}/{host.name}" if host.name else folder
    uri = RemoteURI("file", "", inside)
    if channel.kind.is_input:
        return (Mount(str(host), inside, read_only=True) if host.exists() else None), uri
    parent = host.parent
    if not parent.is_dir() and create_parent:
        parent.mkdir(parents=True, exist_ok=True)
    if not parent.is_dir():
        return None, uri
    return Mount(str(parent), folder, read_only=False), uri
