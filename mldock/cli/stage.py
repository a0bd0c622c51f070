"""A stage's storage on the developer's machine: the emulators its channels need, their buckets, seeded
inputs, and the outputs fetched back after a run.

    channels = stage_channels(stage, extra_env)
    with emulated_storage(channels, host="127.0.0.1") as emulators:      # non-production stages only
        upload_seeds(plan_seeds(project, stage, channels, seeds), bars)
        ...run the task with RunSpec(..., emulators=emulators)...
        download_outputs(channels, Path(".mldock/runs/dev-..."), bars)

The storage SDKs read their endpoints from the environment, so while emulators run, this process's
`os.environ` carries their variables (`emulated_storage` sets and restores them: the one place that does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mldock.errors import ConfigError, RemoteNotFoundError
from mldock.runtime.channels import Channel, ChannelKind, channel_variable, parse_channels
from mldock.storage.base import parse_uri

if TYPE_CHECKING:
    from mldock.cli.progress import TransferProgress
    from mldock.emulators.base import Emulator
    from mldock.project.config import ProjectConfig, StageConfig

__all__ = [
    "EMULATOR_FOR_SCHEME",
    "Seed",
    "download_outputs",
    "emulated_storage",
    "needed_emulators",
    "plan_seeds",
    "stage_channels",
    "upload_seeds",
]

EMULATOR_FOR_SCHEME = {"s3": "s3", "gs": "gcs", "az": "azure"}
_PLACEHOLDER_BASE = Path("/opt/ml")


def stage_channels(stage: StageConfig, extra_environment: Mapping[str, str] | None = None) -> tuple[Channel, ...]:
    """The channels a task of `stage` gets (ChannelError, a user error, names a bad variable)."""
    return parse_channels({**stage.environment, **(extra_environment or {})}, _PLACEHOLDER_BASE)


def needed_emulators(channels: tuple[Channel, ...]) -> list[str]:
    """The emulator names ("s3", "gcs", "azure") the channels' URI schemes need, in a stable order."""
    schemes = {parse_uri(c.uri).scheme for c in channels}
    return [name for scheme, name in EMULATOR_FOR_SCHEME.items() if scheme in schemes]


@contextmanager
def emulated_storage(channels: tuple[Channel, ...], *, host: str = "127.0.0.1") -> Iterator[list[Emulator]]:
    """Start the emulators `channels` need, create every bucket they name, point this process's SDKs at them."""
    from mldock.emulators import emulator_for

    with ExitStack() as stack:
        started: list[Emulator] = []
        for name in needed_emulators(channels):
            emulator = emulator_for(name, host=host)
            stack.enter_context(emulator)
            started.append(cast("Emulator", emulator))
        by_scheme = {e.scheme: e for e in started}
        for bucket_scheme, bucket in sorted({(parse_uri(c.uri).scheme, parse_uri(c.uri).bucket) for c in channels}):
            if bucket_scheme in by_scheme:
                by_scheme[bucket_scheme].create_bucket(bucket)
        variables: dict[str, str] = {}
        for running in started:
            variables.update(running.env())
        stack.enter_context(_environ(variables))
        yield started


@contextmanager
def _environ(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Seed:
    """One local folder to upload to an input channel before the task starts."""

    channel: str
    folder: Path
    uri: str


def plan_seeds(
    project: ProjectConfig, stage: StageConfig, channels: tuple[Channel, ...], extra: Mapping[str, Path]
) -> list[Seed]:
    """The stage's `seed` folders (then `extra`, which wins), checked before anything starts (ConfigError)."""
    inputs = {c.name: c for c in channels if c.kind in (ChannelKind.INPUT, ChannelKind.INPUT_MODEL)}
    wanted: dict[str, tuple[Path, str]] = {}
    for name, relative in stage.seed.items():
        wanted[name] = (project.root / relative, f"{project.config_file}: stages.{stage.name}.seed.{name}")
    for name, path in extra.items():
        wanted[name] = (path, f"--seed {name}={path}")
    seeds: list[Seed] = []
    for name, (folder, origin) in wanted.items():
        channel = inputs.get(name)
        if channel is None:
            raise ConfigError(
                f"{origin}: the stage has no input channel {name!r}; set "
                f"{channel_variable(ChannelKind.INPUT, name)} in stages.{stage.name}.environment"
            )
        if not folder.is_dir():
            raise ConfigError(f"{origin}: {folder} is not a folder")
        seeds.append(Seed(name, folder, channel.uri))
    return seeds


def upload_seeds(seeds: list[Seed], bars: TransferProgress) -> list[dict[str, Any]]:
    """Upload each seed folder to its channel's URI (creating the bucket), with a progress bar each."""
    from mldock.cli.progress import folder_size
    from mldock.storage import remote_for

    report: list[dict[str, Any]] = []
    for seed in seeds:
        callback = bars.add(f"seed {seed.channel} → {seed.uri}", total=folder_size(seed.folder))
        moved = remote_for(seed.uri).upload(seed.folder, seed.uri, create_bucket=True, progress=callback)
        report.append({"channel": seed.channel, "folder": str(seed.folder), "uri": seed.uri, "files": moved.files})
    return report


def download_outputs(channels: tuple[Channel, ...], dest: Path, bars: TransferProgress) -> dict[str, dict[str, Any]]:
    """Fetch every output and output-model channel into `dest/output/<name>` and `dest/model/<name>`.

    A channel the task uploaded nothing to is reported with `files: 0`.
    """
    from mldock.storage import remote_for

    fetched: dict[str, dict[str, Any]] = {}
    for channel in channels:
        if channel.kind not in (ChannelKind.OUTPUT, ChannelKind.OUTPUT_MODEL):
            continue
        folder = "output" if channel.kind is ChannelKind.OUTPUT else "model"
        target = dest / folder / channel.name
        key = f"{folder}/{channel.name}"
        remote = remote_for(channel.uri)
        try:
            total = sum(o.size for o in remote.list(channel.uri))
            if total == 0 and not remote.list(channel.uri):
                raise RemoteNotFoundError(channel.uri)
            moved = remote.download(channel.uri, target, progress=bars.add(f"fetch {channel.uri}", total=total))
        except RemoteNotFoundError:
            fetched[key] = {"uri": channel.uri, "path": None, "files": 0, "bytes": 0}
            continue
        fetched[key] = {"uri": channel.uri, "path": str(target), "files": moved.files, "bytes": moved.bytes}
    return fetched
