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
stage says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mldock.emulator_fixtures import EMULATOR_FIXTURES
from pytest_mldock.naming import bucket_name, worker_id
from pytest_mldock.objects import ObjectStore, files_of, store_for
from pytest_mldock.report import note
from pytest_mldock.state import session_state

if TYPE_CHECKING:
    from mldock.emulators.base import Emulator
    from mldock.project.config import StageConfig
    from mldock.runtime.channels import ChannelKind

__all__ = ["SCHEMES", "MldockStorage", "Source"]

SCHEMES = ("s3", "gs", "az", "file")
_SCHEME_ALIASES = {"gcs": "gs", "azure": "az", "abs": "az"}
Source = Path | Mapping[str, bytes | str]
"""What seeds a channel: a folder (or one file), or a mapping of keys to contents."""


@dataclass(frozen=True)
class _Channel:
    kind: ChannelKind
    name: str
    uri: str
    variable: str


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
        self._channels: dict[str, _Channel] = {}
        self._buckets: list[tuple[str, str]] = []
        self._stores: dict[str, ObjectStore] = {}
        self._emulators: dict[str, Emulator] = {}
        self.notes: list[str] = []
        """What the helper did that a report reader should know (e.g. seeding skipped in production)."""

    # -- channels ---------------------------------------------------------------------------------------

    def input(self, name: str, source: Source | None = None, *, scheme: str | None = None) -> str:
        """A fresh input channel `name`, seeded from `source`; returns its URI."""
        return self._channel(_kind("INPUT"), name, source, scheme)

    def input_model(self, name: str, source: Source | None = None, *, scheme: str | None = None) -> str:
        """A fresh input model channel `name` (downloaded into <base>/model/<name>), seeded from `source`."""
        return self._channel(_kind("INPUT_MODEL"), name, source, scheme)

    def output(self, name: str, *, scheme: str | None = None) -> str:
        """A fresh, empty output channel `name`; returns its URI."""
        return self._channel(_kind("OUTPUT"), name, None, scheme)

    def output_model(self, name: str, *, scheme: str | None = None) -> str:
        """A fresh, empty output model channel `name` (uploaded from <base>/model/<name>)."""
        return self._channel(_kind("OUTPUT_MODEL"), name, None, scheme)

    @property
    def environment(self) -> dict[str, str]:
        """The channel variables recorded so far (full `MLDOCK_..._CHANNEL_<NAME>` names)."""
        return {channel.variable: channel.uri for channel in self._channels.values()}

    @property
    def emulators(self) -> list[Emulator]:
        """The emulators this test's channels use (started on first use)."""
        return list(self._emulators.values())

    def uri(self, variable: str) -> str | None:
        """The URI recorded for a channel variable, or None."""
        channel = self._channels.get(variable)
        return channel.uri if channel else None

    # -- data -------------------------------------------------------------------------------------------

    def write(self, uri: str, source: Source) -> None:
        """Upload `source` below `uri` (emulated storage or `file://` only; refused under a production stage)."""
        from mldock.storage import parse_uri

        parsed = parse_uri(uri)
        if self.stage.production and parsed.scheme != "file":
            pytest.fail(
                f"mldock_storage: refusing to write into {uri} under production stage {self.stage.name!r}",
                pytrace=False,
            )
        self._store(parsed.scheme).write(parsed, files_of(source))

    def read(self, uri: str) -> dict[str, bytes]:
        """Every object below `uri`, keyed by its path relative to `uri` ({} when there is none)."""
        from mldock.storage import parse_uri

        parsed = parse_uri(uri)
        return self._store(parsed.scheme).read(parsed)

    # -- run environment --------------------------------------------------------------------------------

    def run_environment(self) -> dict[str, str]:
        """The channel variables for a run: the stage's channels, each pointed at this test's storage, plus
        the ones recorded here (which win). Kept as the stage says: every channel of a production stage, and
        `file://` inputs without a seed folder (local data is read in place; outputs always go to the test's).
        """
        from mldock.errors import ChannelError
        from mldock.runtime.channels import channel_variable, parse_channels

        try:
            staged = parse_channels(self.stage.environment, Path("/"))
        except ChannelError as exc:
            pytest.fail(f"mldock.json stage {self.stage.name!r}: {exc}", pytrace=False)
        environment: dict[str, str] = {}
        for channel in staged:
            variable = channel_variable(channel.kind, channel.name)
            if variable in self._channels:
                continue
            if self.stage.production:
                environment[channel.variable] = channel.uri
                continue
            seed = self.stage.seed.get(channel.name) if channel.kind.is_input else None
            if channel.kind.is_input and not seed and channel.uri.startswith("file:"):
                environment[channel.variable] = channel.uri  # local data is read where it is, never written
                continue
            source: Source | None = self._state.project().root / seed if seed else None
            self._channel(channel.kind, channel.name, source, None)
        environment.update(self.environment)
        return environment

    # -- internals --------------------------------------------------------------------------------------

    def _channel(self, kind: ChannelKind, name: str, source: Source | None, scheme: str | None) -> str:
        from mldock.errors import ChannelError
        from mldock.runtime.channels import channel_variable, parse_channels

        variable = channel_variable(kind, name)
        try:
            parse_channels({variable: "file:///check"}, Path("/"))
        except ChannelError as exc:
            raise ValueError(f"mldock_storage: {exc}") from None
        if self.stage.production:
            uri = self._production_uri(kind, name, variable, source)
        else:
            uri = self._fresh_uri(kind, name, self._scheme(kind, name, scheme))
            if source is not None:
                self.write(uri, source)
        self._channels[variable] = _Channel(kind, name, uri, variable)
        return uri

    def _production_uri(self, kind: ChannelKind, name: str, variable: str, source: Source | None) -> str:
        from mldock.runtime.channels import parse_channels

        for channel in parse_channels(self.stage.environment, Path("/")):
            if channel.kind is kind and channel.name == name:
                if source is not None:
                    message = (
                        f"{variable}: production stage {self.stage.name!r}: seeding skipped, "
                        f"the test reads the real {channel.uri}"
                    )
                    self.notes.append(message)
                    note(self._request.node, message)
                return channel.uri
        pytest.fail(
            f"mldock_storage: production stage {self.stage.name!r} names no {variable}; add "
            f'"{variable.removeprefix("MLDOCK_")}": "<uri>" to stages.{self.stage.name}.environment in mldock.json',
            pytrace=False,
        )

    def _scheme(self, kind: ChannelKind, name: str, scheme: str | None) -> str:
        from mldock.storage import parse_uri

        if scheme is not None:
            chosen = _SCHEME_ALIASES.get(scheme, scheme)
            if chosen not in SCHEMES:
                raise ValueError(f"mldock_storage: scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
            return chosen
        from mldock.runtime.channels import parse_channels

        for channel in parse_channels(self.stage.environment, Path("/")):
            if channel.kind is kind and channel.name == name:
                return parse_uri(channel.uri).scheme
        return "file"

    def _fresh_uri(self, kind: ChannelKind, name: str, scheme: str) -> str:
        nodeid = self._request.node.nodeid
        bucket = bucket_name(nodeid, worker=worker_id(), n=self._state.next_bucket_number(nodeid))
        if scheme == "file":
            folder = self._tmp_path / "mldock-storage" / bucket / name
            if not kind.is_input:
                folder.mkdir(parents=True)
            return folder.as_uri()
        store = self._store(scheme)
        store.create_bucket(bucket)
        self._buckets.append((scheme, bucket))
        return f"{scheme}://{bucket}/{name}"

    def _store(self, scheme: str) -> ObjectStore:
        if scheme not in self._stores:
            emulator = None
            if scheme != "file" and not self.stage.production:
                emulator = self._request.getfixturevalue(EMULATOR_FIXTURES[scheme])
                self._emulators[scheme] = emulator
            self._stores[scheme] = store_for(scheme, emulator)
        return self._stores[scheme]

    def close(self) -> None:
        """Delete the buckets this test created (kept with --mldock-keep)."""
        if self._state.settings.keep:
            return
        for scheme, bucket in self._buckets:
            self._stores[scheme].delete_bucket(bucket)
        self._buckets.clear()


def _kind(name: str) -> ChannelKind:
    from mldock.runtime.channels import ChannelKind

    return ChannelKind[name]
