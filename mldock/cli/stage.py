"""What `mldock run` and `mldock serve` do with a stage's storage: start the emulators its channels need, seed
inputs with progress bars, fetch the outputs into the run folder. The storage work itself is
`mldock.project.stage_storage.StageStorage`, shared with the pytest plugin.

    with stage_storage(stage, channels, host="127.0.0.1") as (storage, emulators):
        upload_seeds(storage, plan_seeds(project, stage, channels, seeds), bars)
        ...run the task with RunSpec(..., emulators=emulators)...
        download_outputs(storage, channels, Path(".mldock/runs/dev-..."), bars)

A production stage starts no emulator: its storage is the real one, with the ambient credentials.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from mldock.cli.progress import TransferProgress, folder_size
from mldock.emulators import Emulator, emulator_for
from mldock.project.config import StageConfig
from mldock.project.stage_storage import Seed, StageStorage, needed_emulators
from mldock.runtime.channels import Channel, ChannelKind

__all__ = ["download_outputs", "stage_storage", "upload_seeds"]


@contextmanager
def stage_storage(
    stage: StageConfig,
    channels: tuple[Channel, ...],
    *,
    host: str = "127.0.0.1",
    extra_environment: Mapping[str, str] | None = None,
) -> Iterator[tuple[StageStorage, list[Emulator]]]:
    """The stage's storage: outside production, the emulators `channels` need, running, with every bucket made.
    The task's MLDOCK_STORAGE_TIMEOUT (the stage's environment, then `extra_environment`) bounds its transfers."""
    environment = {**stage.container_environment(), **(extra_environment or {})}
    if stage.production:
        yield StageStorage(environment=environment), []
        return
    with ExitStack() as stack:
        started: list[Emulator] = []
        for name in needed_emulators(channels):
            started.append(stack.enter_context(emulator_for(name, host=host)))
        storage = StageStorage({emulator.scheme: emulator.env() for emulator in started}, environment=environment)
        storage.create_buckets(channels)
        yield storage, started


def upload_seeds(storage: StageStorage, seeds: list[Seed], bars: TransferProgress) -> list[dict[str, Any]]:
    """Upload each seed folder to its channel's URI (creating the bucket), with a progress bar each."""
    report: list[dict[str, Any]] = []
    for seed in seeds:
        callback = bars.add(f"seed {seed.channel} → {seed.uri}", total=folder_size(seed.folder))
        moved = storage.seed(seed.uri, seed.folder, progress=callback)
        report.append({"channel": seed.channel, "folder": str(seed.folder), "uri": str(seed.uri), "files": moved.files})
    return report


def download_outputs(
    storage: StageStorage, channels: tuple[Channel, ...], dest: Path, bars: TransferProgress
) -> dict[str, dict[str, Any]]:
    """Fetch every output and output-model channel into `dest/output/<name>` and `dest/model/<name>`.

    A channel the task uploaded nothing to is reported with `files: 0` and no path.
    """
    fetched: dict[str, dict[str, Any]] = {}
    for channel in channels:
        if channel.kind.is_input:
            continue
        folder = "model" if channel.kind is ChannelKind.OUTPUT_MODEL else "output"
        key = f"{folder}/{channel.name}"
        target = dest / folder / channel.name
        total = storage.size(channel.uri)
        moved = storage.fetch(channel.uri, target, progress=bars.add(f"fetch {channel.uri}", total=total))
        if moved is None:
            fetched[key] = {"uri": str(channel.uri), "path": None, "files": 0, "bytes": 0}
        else:
            fetched[key] = {"uri": str(channel.uri), "path": str(target), "files": moved.files, "bytes": moved.bytes}
    return fetched
