"""TrainingContainer and ServingContainer: the startup()/cleanup() lifecycle users extend in `assets.py`.

    from mldock import TrainingContainer, on_startup

    class Training(TrainingContainer):
        @on_startup(stages=["dev"])
        def seed_sample_data(self) -> None:
            (self.env.input_data_dir / "train" / "sample.csv").write_text("x,y\\n1,2\\n")

startup() runs the stage's @on_startup(before_downloads=True) steps, downloads the input and input-model channels
(an optional channel with nothing under its URI gives an empty folder and a log line; a required one fails),
then runs the @on_startup steps of the stage.
cleanup() runs the @on_cleanup steps, then uploads the output and output-model channels, also when a step
failed (outputs written so far are data). In a multi-node run only the leader uploads them (each other node logs
a line per channel it skips; MLDOCK_UPLOAD_ON_ALL_NODES names channels every node uploads below `<uri>/<node>/`:
mldock.runtime.cluster). Overriding startup()/cleanup() and calling super() works too.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from mldock.contract import setting_key
from mldock.errors import RemoteNotFoundError, StorageError
from mldock.runtime.channels import SERVE_CHANNELS, SERVE_UPLOAD_OUTPUTS, Channel, ChannelKind, parse_channel_names
from mldock.runtime.cluster import UPLOAD_ON_ALL_NODES, plan_uploads
from mldock.runtime.environment import Environment
from mldock.runtime.stages import Phase, collect_steps
from mldock.storage.base import Remote, TransferReport
from mldock.storage.registry import remote_for
from mldock.storage.uri import RemoteURI

__all__ = ["Container", "ServingContainer", "TrainingContainer", "is_truthy"]

logger = logging.getLogger("mldock")

_TRUTHY = frozenset({"1", "true", "yes", "on"})


def is_truthy(value: str | None) -> bool:
    """True for a setting spelled 1/true/yes/on (any case)."""
    return value is not None and value.strip().lower() in _TRUTHY


class Container:
    """The lifecycle shared by training and serving containers.

        container = TrainingContainer(Environment.from_env())
        container.startup()
        ...
        container.cleanup()

    `environment_class` names the Environment the entrypoint builds for this container (a platform
    environment such as AWSEnvironment resolves channel values without a scheme).
    """

    environment_class: ClassVar[type[Environment]] = Environment

    def __init__(self, env: Environment) -> None:
        self.env = env

    def startup(self) -> None:
        """Run the before-downloads steps, download input and input-model channels, run the @on_startup steps."""
        self.run_steps(Phase.BEFORE_DOWNLOADS)
        self.download_inputs()
        self.run_steps(Phase.STARTUP)

    def cleanup(self) -> None:
        """Run the @on_cleanup steps of the stage, then upload output and output-model channels.

        The uploads happen even when a step raises; the step's exception is raised afterwards.
        """
        try:
            self.run_steps(Phase.CLEANUP)
        finally:
            self.upload_outputs()

    def remote_for(self, uri: RemoteURI) -> Remote:
        """The remote for `uri` (by scheme, settings from os.environ), made once per scheme and reused by every
        channel of that scheme (one SDK client, not one per channel); override to inject a remote in tests."""
        remotes: dict[str, Remote] = self.__dict__.setdefault("_remotes", {})
        if uri.scheme not in remotes:
            remotes[uri.scheme] = remote_for(uri)
        return remotes[uri.scheme]

    def run_steps(self, phase: Phase) -> None:
        """Run this class's steps of `phase` that are attached to the current stage, in definition order."""
        for name, spec in collect_steps(type(self), phase):
            if not spec.runs_in(self.env.stage):
                logger.debug("%s: skipping step %s (not in stage %s)", phase.value, name, self.env.stage)
                continue
            when = "startup" if phase is Phase.BEFORE_DOWNLOADS else phase.value
            extra = " before the downloads" if phase is Phase.BEFORE_DOWNLOADS else ""
            logger.info("%s: running step %s%s (stage %s)", when, name, extra, self.env.stage)
            started = time.monotonic()
            getattr(self, name)()
            logger.info("%s: step %s finished in %.2fs", when, name, time.monotonic() - started)

    def download_inputs(self) -> list[TransferReport]:
        """Download every input and input-model channel into its folder (an empty optional one: an empty folder)."""
        channels = (*self.env.input_channels, *self.env.input_model_channels)
        return [self._download(channel) for channel in channels]

    def _download(self, channel: Channel) -> TransferReport:
        try:
            return self._transfer(channel, upload=False)
        except RemoteNotFoundError:
            if not channel.optional:
                raise
        channel.path.mkdir(parents=True, exist_ok=True)
        logger.info(
            "startup: optional %s channel %r is empty (nothing under %s): %s is an empty folder",
            channel.kind.value,
            channel.name,
            channel.uri,
            channel.path,
        )
        return TransferReport(str(channel.uri), 0, 0)

    def upload_outputs(self) -> list[TransferReport]:
        """Upload the output and output-model channels this node uploads (all of them on a single node or the
        leader); tries all, then raises the StorageError(s)."""
        reports: list[TransferReport] = []
        errors: list[StorageError] = []
        cluster = self.env.cluster
        plan = plan_uploads((*self.env.output_channels, *self.env.output_model_channels), cluster, self.env.settings)
        for channel in plan.skipped:
            logger.info(
                "cleanup: skipping %s channel %r on %s: the leader %s uploads it (%s names channels all nodes upload)",
                channel.kind.value,
                channel.name,
                cluster.node_name,
                cluster.leader_host or "(rank 0)",
                UPLOAD_ON_ALL_NODES,
            )
        for channel in plan.uploads:
            try:
                reports.append(self._transfer(channel, upload=True))
            except StorageError as exc:
                logger.error("cleanup: uploading %s channel %r failed: %s", channel.kind.value, channel.name, exc)
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            details = "; ".join(str(exc) for exc in errors)
            raise StorageError(f"{len(errors)} channels failed to upload: {details}") from errors[0]
        return reports

    def _transfer(self, channel: Channel, *, upload: bool) -> TransferReport:
        phase, verb = ("cleanup", "uploading") if upload else ("startup", "downloading")
        direction = f"{channel.path} -> {channel.uri}" if upload else f"{channel.uri} -> {channel.path}"
        logger.info("%s: %s %s channel %r: %s", phase, verb, channel.kind.value, channel.name, direction)
        started = time.monotonic()
        remote = self.remote_for(channel.uri)
        if upload:
            channel.path.mkdir(parents=True, exist_ok=True)
            create = is_truthy(self.env.settings.get("CREATE_MISSING_BUCKETS"))
            report = remote.upload(channel.path, channel.uri, create_bucket=create)
        else:
            report = remote.download(channel.uri, channel.path)
        logger.info(
            "%s: %s channel %r: %d file%s, %s in %.2fs%s",
            phase,
            "uploaded" if upload else "downloaded",
            channel.name,
            report.files,
            "" if report.files == 1 else "s",
            format_bytes(report.bytes),
            time.monotonic() - started,
            f" ({report.processes} processes)" if report.processes > 1 else "",
        )
        if upload and report.files == 0:
            logger.warning("cleanup: output channel %r was empty (%s)", channel.name, channel.path)
        return report


class TrainingContainer(Container):
    """The training lifecycle: startup() → the training step (run by the entrypoint) → cleanup().

    class Training(TrainingContainer):
        @on_cleanup(stages=["test"])
        def verify_outputs(self) -> None:
            assert (self.env.model_dir / "model" / "weights.bin").exists()
    """


class ServingContainer(Container):
    """The serving lifecycle: startup() → the HTTP server with the predictor → cleanup() at shutdown.

    Serving has its own channel set: startup() downloads the input and input-model channels named in
    MLDOCK_SERVE_CHANNELS, or, without it, the input-model channels only (never the training data); cleanup()
    uploads nothing unless MLDOCK_SERVE_UPLOAD_OUTPUTS is true.

    class Serving(ServingContainer):
        @on_startup(stages=["dev"])
        def use_sample_model(self) -> None: ...
    """

    def download_inputs(self) -> list[TransferReport]:
        """Download serving's channels (see the class docstring); the others are logged as skipped."""
        listed = self.env.settings.get(setting_key(SERVE_CHANNELS))
        wanted = None if listed is None else parse_channel_names(listed, SERVE_CHANNELS)
        reports: list[TransferReport] = []
        for channel in (*self.env.input_channels, *self.env.input_model_channels):
            used = channel.kind is ChannelKind.INPUT_MODEL if wanted is None else channel.name in wanted
            if used:
                reports.append(self._download(channel))
            else:
                logger.info(
                    "startup: serving skips %s channel %r (serving's channels: %s)",
                    channel.kind.value,
                    channel.name,
                    "the input model ones" if wanted is None else f"{SERVE_CHANNELS}={listed}",
                )
        return reports

    def upload_outputs(self) -> list[TransferReport]:
        """Nothing, unless MLDOCK_SERVE_UPLOAD_OUTPUTS is true: then every output channel, as training does."""
        if is_truthy(self.env.settings.get(setting_key(SERVE_UPLOAD_OUTPUTS))):
            return super().upload_outputs()
        if self.env.output_channels or self.env.output_model_channels:
            logger.info("cleanup: serving uploads no output channel (set %s=true to upload)", SERVE_UPLOAD_OUTPUTS)
        return []


def format_bytes(count: int) -> str:
    """`count` bytes in a human unit: 512 B, 1.5 KiB, 3.2 MiB."""
    if count < 1024:
        return f"{count} B"
    size = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
