"""`mldock_storage`: fresh buckets per test, channels seeded from a folder or bytes, outputs read back.

    def test_train(mldock_storage, mldock_container):
        mldock_storage.input("train", {"data.csv": b"x,y\\n1,2\\n"}, scheme="s3")
        mldock_storage.output("metrics")
        result = mldock_container("train")
        result.assert_succeeded()
        assert "accuracy" in result.outputs["metrics"]["metrics.json"].decode()

Each channel gets its own bucket, `t-<worker>-<hash of the test id>-<n>`, on the emulator of its scheme
(started on first use). The channel variables are recorded in `.environment` and given to the container by
`mldock_container`. Under a production stage nothing is emulated: a channel is the URI the stage's
environment names, inputs are never written (production data is read, not replaced), outputs go where the
stage says. Every bucket, seed and read goes through `mldock.project.stage_storage.StageStorage`, the
service `mldock run` uses, and so through the remotes the container runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from mldock.emulators import Emulator
from mldock.errors import ChannelError, MldockError
from mldock.project.config import StageConfig
from mldock.project.stage_storage import Source, StageStorage, stage_channels
from mldock.runtime.channels import Channel, ChannelKind, channel_variable, check_channel_name
from mldock.storage import RemoteURI, parse_uri
from pytest_mldock.emulator_fixtures import EMULATOR_FIXTURES
from pytest_mldock.naming import bucket_name, worker_id
from pytest_mldock.report import note
from pytest_mldock.state import session_state

__all__ = ["SCHEMES", "MldockStorage", "Source"]

SCHEMES = ("s3", "gs", "az", "file")
_SCHEME_ALIASES = {"gcs": "gs", "azure": "az", "abs": "az"}


class MldockStorage:
    """Per-test channels on emulated (or, under a production stage, real) storage.

        uri = mldock_storage.input("train", Path("tests/data/train"))     # scheme from mldock.json, else file
        mldock_storage.output("metrics", scheme="az")
        mldock_storage.environment    # {"MLDOCK_INPUT_CHANNEL_TRAIN": "...", "MLDOCK_OUTPUT_CHANNEL_METRICS": ...}
        mldock_storage.read(uri)      # {"data.csv": b"..."}

    `scheme` is one of s3, gs (gcs), az (azure), file; by default the scheme the stage's environment uses
    for that channel, else file.
    """

    def __init__(self, request: pytest.FixtureRequest, stage: StageConfig, tmp_path: Path) -> None:
        self._request = request
        self._state = session_state(request.config)
        self.stage = stage
        self._tmp_path = tmp_path
        self._channels: dict[str, Channel] = {}
        self._buckets: list[RemoteURI] = []
        self._emulators: dict[str, Emulator] = {}
        self._staged: tuple[Channel, ...] | None = None
        # The stage's MLDOCK_STORAGE_TIMEOUT bounds seeding and reads as it bounds the task's own transfers.
        self._storage = StageStorage(self._settings_for, environment=stage.container_environment())
        self.notes: list[str] = []
        """What the helper did that a report reader should know (e.g. seeding skipped in production)."""

    # -- channels ---------------------------------------------------------------------------------------

    def input(self, name: str, source: Source | None = None, *, scheme: str | None = None) -> str:
        """A fresh input channel `name`, seeded from `source`; returns its URI."""
        return self._channel(ChannelKind.INPUT, name, source, scheme)

    def input_model(self, name: str, source: Source | None = None, *, scheme: str | None = None) -> str:
        """A fresh input model channel `name` (downloaded into <base>/model/<name>), seeded from `source`."""
        return self._channel(ChannelKind.INPUT_MODEL, name, source, scheme)

    def output(self, name: str, *, scheme: str | None = None) -> str:
        """A fresh, empty output channel `name`; returns its URI."""
        return self._channel(ChannelKind.OUTPUT, name, None, scheme)

    def output_model(self, name: str, *, scheme: str | None = None) -> str:
        """A fresh, empty output model channel `name` (uploaded from <base>/model/<name>)."""
        return self._channel(ChannelKind.OUTPUT_MODEL, name, None, scheme)

    @property
    def environment(self) -> dict[str, str]:
        """The channel variables recorded so far (full `MLDOCK_..._CHANNEL_<NAME>` names)."""
        return {variable: str(channel.uri) for variable, channel in self._channels.items()}

    @property
    def emulators(self) -> list[Emulator]:
        """The emulators this test's channels use (started on first use)."""
        return list(self._emulators.values())

    def uri(self, variable: str) -> str | None:
        """The URI recorded for a channel variable, or None."""
        channel = self._channels.get(variable)
        return str(channel.uri) if channel else None

    # -- data -------------------------------------------------------------------------------------------

    def write(self, uri: str | RemoteURI, source: Source) -> None:
        """Upload `source` below `uri` (emulated storage or `file://` only; refused under a production stage)."""
        parsed = self._parse(uri)
        if self.stage.production and parsed.scheme != "file":
            pytest.fail(
                f"mldock_storage: refusing to write into {uri} under production stage {self.stage.name!r}",
                pytrace=False,
            )
        self._storage.seed(parsed, source)

    def read(self, uri: str | RemoteURI) -> dict[str, bytes]:
        """Every object below `uri`, keyed by its path relative to `uri` ({} when there is none)."""
        return self._storage.read(self._parse(uri))

    # -- run environment --------------------------------------------------------------------------------

    def run_environment(self) -> dict[str, str]:
        """The channel variables for a run: the stage's channels, each pointed at this test's storage, plus
        the ones recorded here (which win). Kept as the stage says: every channel of a production stage, and
        `file://` inputs without a seed folder (local data is read in place; outputs always go to the test's).
        """
        environment: dict[str, str] = {}
        for channel in self._stage_channels():
            variable = channel_variable(channel.kind, channel.name)
            if variable in self._channels:
                continue
            if self.stage.production:
                environment[channel.variable] = str(channel.uri)
                continue
            seed = self.stage.seed.get(channel.name) if channel.kind.is_input else None
            if channel.kind.is_input and not seed and channel.uri.scheme == "file":
                environment[channel.variable] = str(channel.uri)  # local data is read where it is, never written
                continue
            source: Source | None = self._state.project().root / seed if seed else None
            self._channel(channel.kind, channel.name, source, None)
        environment.update(self.environment)
        return environment

    # -- internals --------------------------------------------------------------------------------------

    def _parse(self, uri: str | RemoteURI) -> RemoteURI:
        if isinstance(uri, RemoteURI):
            return uri
        try:
            return parse_uri(uri)
        except MldockError as exc:
            raise ValueError(f"mldock_storage: {exc}") from None

    def _stage_channels(self) -> tuple[Channel, ...]:
        """The stage's channels, parsed once (a bad variable fails the test with the stage named)."""
        if self._staged is None:
            try:
                self._staged = stage_channels(self.stage)
            except ChannelError as exc:
                pytest.fail(f"mldock.json stage {self.stage.name!r}: {exc}", pytrace=False)
        return self._staged

    def _staged_channel(self, kind: ChannelKind, name: str) -> Channel | None:
        return next((c for c in self._stage_channels() if c.kind is kind and c.name == name), None)

    def _channel(self, kind: ChannelKind, name: str, source: Source | None, scheme: str | None) -> str:
        try:
            check_channel_name(kind, name)
        except ChannelError as exc:
            raise ValueError(f"mldock_storage: {exc}") from None
        variable = channel_variable(kind, name)
        if self.stage.production:
            uri = self._production_uri(kind, name, variable, source)
        else:
            uri = self._fresh_uri(kind, name, self._scheme(kind, name, scheme))
            if source is not None:
                self._storage.seed(uri, source)
        self._channels[variable] = Channel(kind, name, uri, kind.folder(Path("/"), name), variable)
        return str(uri)

    def _production_uri(self, kind: ChannelKind, name: str, variable: str, source: Source | None) -> RemoteURI:
        channel = self._staged_channel(kind, name)
        if channel is None:
            pytest.fail(
                f"mldock_storage: production stage {self.stage.name!r} names no {variable}; add "
                f'"{variable.removeprefix("MLDOCK_")}": "<uri>" to stages.{self.stage.name}.environment in '
                "mldock.json",
                pytrace=False,
            )
        if source is not None:
            message = (
                f"{variable}: production stage {self.stage.name!r}: seeding skipped, "
                f"the test reads the real {channel.uri}"
            )
            self.notes.append(message)
            note(self._request.node, message)
        return channel.uri

    def _scheme(self, kind: ChannelKind, name: str, scheme: str | None) -> str:
        if scheme is not None:
            chosen = _SCHEME_ALIASES.get(scheme, scheme)
            if chosen not in SCHEMES:
                raise ValueError(f"mldock_storage: scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
            return chosen
        channel = self._staged_channel(kind, name)
        return channel.uri.scheme if channel is not None else "file"

    def _fresh_uri(self, kind: ChannelKind, name: str, scheme: str) -> RemoteURI:
        nodeid = self._request.node.nodeid
        bucket = bucket_name(nodeid, worker=worker_id(), n=self._state.next_bucket_number(nodeid))
        if scheme == "file":
            folder = self._tmp_path / "mldock-storage" / bucket / name
            if not kind.is_input:
                folder.mkdir(parents=True)
            return parse_uri(folder.as_uri())
        uri = parse_uri(f"{scheme}://{bucket}/{name}")
        self._storage.create_bucket(uri)
        self._buckets.append(uri)
        return uri

    def _settings_for(self, scheme: str) -> Mapping[str, str] | None:
        """The emulator's variables for `scheme` (starting it on first use); None for real storage or files."""
        if scheme == "file" or self.stage.production:
            return None
        emulator: Emulator = self._request.getfixturevalue(EMULATOR_FIXTURES[scheme])
        self._emulators[scheme] = emulator
        return emulator.env()

    def close(self) -> None:
        """Delete the buckets this test created (kept with --mldock-keep)."""
        if self._state.settings.keep:
            return
        for uri in self._buckets:
            self._storage.delete_bucket(uri)
        self._buckets.clear()
