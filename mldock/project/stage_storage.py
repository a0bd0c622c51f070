"""A stage's storage on the developer's machine: buckets for its channels, seeded inputs, outputs read back.

The one service `mldock run` / `mldock serve` and the pytest plugin's `mldock_storage` share. Every transfer
goes through `mldock.storage.remote_for`, the code the container runs; the SDK settings of each scheme (an
emulator's variables, or nothing for the ambient credentials) are passed explicitly, never through
`os.environ`.

    storage = StageStorage({"s3": s3_emulator.env()})       # gs/az/file: the ambient settings
    channels = stage_channels(stage, extra_environment)
    storage.create_buckets(channels)
    storage.seed(parse_uri("s3://data/train"), Path("data/train"))       # or {"data.csv": b"x,y\\n"}
    storage.read(parse_uri("s3://models/run-1"))                         # {"model.pkl": b"..."}
    storage.fetch(parse_uri("s3://models/run-1"), Path(".mldock/runs/dev-1/model/model"))

`MLDOCK_STORAGE_TIMEOUT` bounds these transfers as it bounds the task's (mldock.storage.retry): the value the
stage's task gets (`StageStorage(settings, environment=task_variables)`, from the stage's `environment` and
`-e`) is added to each scheme's settings; without one, the ambient environment's (real storage) or the default.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mldock.contract import DEFAULT_BASE_DIR, STORAGE_TIMEOUT
from mldock.errors import ConfigError, RemoteNotFoundError
from mldock.project.config import ProjectConfig, StageConfig
from mldock.runtime.channels import Channel, ChannelKind, channel_variable, parse_channels
from mldock.storage import ProgressCallback, Remote, RemoteURI, TransferReport, remote_for

__all__ = [
    "EMULATOR_FOR_SCHEME",
    "Seed",
    "Source",
    "StageStorage",
    "files_of",
    "needed_emulators",
    "plan_seeds",
    "stage_channels",
]

EMULATOR_FOR_SCHEME = {"s3": "s3", "gs": "gcs", "az": "azure"}
"""URI scheme -> the emulator that stands in for its cloud."""

Source = Path | Mapping[str, bytes | str]
"""What seeds a channel: a folder (or one file), or a mapping of keys to contents."""

SettingsFor = Callable[[str], Mapping[str, str] | None]
"""URI scheme -> the SDK variables its remote is built from (None: the ambient environment)."""


def stage_channels(stage: StageConfig, extra_environment: Mapping[str, str] | None = None) -> tuple[Channel, ...]:
    """The channels a task of `stage` gets, as the container will see them (ChannelError names a bad variable)."""
    return parse_channels({**stage.container_environment(), **(extra_environment or {})}, DEFAULT_BASE_DIR)


def needed_emulators(channels: Iterable[Channel]) -> list[str]:
    """The emulator names ("s3", "gcs", "azure") the channels' URI schemes need, in a stable order."""
    schemes = {c.uri.scheme for c in channels}
    return [name for scheme, name in EMULATOR_FOR_SCHEME.items() if scheme in schemes]


def files_of(source: Source) -> dict[str, bytes]:
    """The files to upload: a folder (walked, keys relative to it), one file, or a mapping key -> content."""
    if isinstance(source, Mapping):
        return {str(k): (v.encode("utf-8") if isinstance(v, str) else bytes(v)) for k, v in source.items()}
    path = Path(source)
    if path.is_file():
        return {path.name: path.read_bytes()}
    if not path.is_dir():
        raise ConfigError(f"{path}: no such file or folder to seed a channel from")
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class Seed:
    """One local folder to upload to an input channel before the task starts."""

    channel: str
    folder: Path
    uri: RemoteURI


def plan_seeds(
    project: ProjectConfig, stage: StageConfig, channels: Iterable[Channel], extra: Mapping[str, Path]
) -> list[Seed]:
    """The stage's `seed` folders (then `extra`, which wins), checked before anything starts (ConfigError)."""
    inputs = {c.name: c for c in channels if c.kind.is_input}
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


class StageStorage:
    """Buckets, seeds and read-backs for a stage's channels, through the runtime's remotes.

        storage = StageStorage({"s3": emulator.env()})
        storage.seed(uri, {"data.csv": b"x,y\\n1,2\\n"})

    `settings` maps a URI scheme to the SDK variables its remote is built from (an emulator's `env()`), or is
    a function of the scheme; a scheme it does not name uses the ambient environment (real storage).
    `environment` is what the stage's task gets: its MLDOCK_STORAGE_TIMEOUT, when set, bounds these transfers
    too (a bad value is a UserError naming the variable when a remote is made).
    """

    def __init__(
        self,
        settings: Mapping[str, Mapping[str, str]] | SettingsFor | None = None,
        *,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        if settings is None or isinstance(settings, Mapping):
            fixed = dict(settings or {})
            self._settings_for: SettingsFor = fixed.get
        else:
            self._settings_for = settings
        self._timeout = (environment or {}).get(STORAGE_TIMEOUT)
        self._remotes: dict[str, Remote] = {}

    def remote(self, uri: RemoteURI) -> Remote:
        """The remote for `uri`'s scheme, made once with that scheme's settings (and the task's
        MLDOCK_STORAGE_TIMEOUT)."""
        if uri.scheme not in self._remotes:
            self._remotes[uri.scheme] = remote_for(uri, self.settings(uri.scheme))
        return self._remotes[uri.scheme]

    def settings(self, scheme: str) -> Mapping[str, str] | None:
        """The variables the remote of `scheme` is made from (None: the ambient environment)."""
        settings = self._settings_for(scheme)
        if self._timeout is None:
            return settings
        ambient = os.environ if settings is None else settings  # what remote_for(uri, None) would read
        return {**ambient, STORAGE_TIMEOUT: self._timeout}

    # -- buckets ----------------------------------------------------------------------------------------

    def create_bucket(self, uri: RemoteURI) -> None:
        """Create the bucket (container, folder) `uri` lives in; no error when it exists."""
        self.remote(uri).create_bucket(uri.bucket_root())

    def delete_bucket(self, uri: RemoteURI) -> None:
        """Delete the bucket `uri` lives in with everything in it; no error when it is gone."""
        self.remote(uri).delete_bucket(uri.bucket_root())

    def create_buckets(self, channels: Iterable[Channel]) -> None:
        """Create every bucket the channels name (each once)."""
        roots = {c.uri.bucket_root() for c in channels}
        for root in sorted(roots, key=str):
            self.create_bucket(root)

    # -- data -------------------------------------------------------------------------------------------

    def seed(self, uri: RemoteURI, source: Source, *, progress: ProgressCallback | None = None) -> TransferReport:
        """Upload `source` (a folder, as it is, or files given as a mapping) below `uri`, creating the bucket."""
        if not isinstance(source, Mapping) and Path(source).is_dir():
            return self.remote(uri).upload(Path(source), uri, create_bucket=True, progress=progress)
        with tempfile.TemporaryDirectory(prefix="mldock-seed-") as folder:
            for relative, data in files_of(source).items():
                target = Path(folder, *relative.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            return self.remote(uri).upload(Path(folder), uri, create_bucket=True, progress=progress)

    def fetch(self, uri: RemoteURI, dest: Path, *, progress: ProgressCallback | None = None) -> TransferReport | None:
        """Download everything below `uri` into the folder `dest`; None when there is nothing there."""
        try:
            return self.remote(uri).download(uri, dest, progress=progress)
        except RemoteNotFoundError:
            return None

    def size(self, uri: RemoteURI) -> int:
        """The bytes below `uri` (0 when there is nothing there)."""
        try:
            return sum(o.size for o in self.remote(uri).list(uri))
        except RemoteNotFoundError:
            return 0

    def read(self, uri: RemoteURI) -> dict[str, bytes]:
        """Every object below `uri`, keyed by its path relative to it ({} when there is none)."""
        with tempfile.TemporaryDirectory(prefix="mldock-read-") as folder:
            root = Path(folder)
            if self.fetch(uri, root) is None:
                return {}
            return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
