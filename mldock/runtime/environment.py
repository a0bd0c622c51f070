"""The environment of one container run, read once from variables into a frozen value.

    env = Environment.from_env()                     # os.environ, MLDOCK_BASE_DIR or /opt/ml
    env = Environment.from_env({"MLDOCK_STAGE": "test"}, base_dir=tmp_path)   # in tests
    env.prepare()                                    # the one side effect: create the folders

Variables read (names and rules in mldock.contract): `MLDOCK_BASE_DIR` (default /opt/ml), `MLDOCK_STAGE`
(default dev), `MLDOCK_PROJECT_DIR` (default the working directory), `MLDOCK_HYPERPARAMETERS_FILE` and
`MLDOCK_HYPERPARAMETERS` (mldock.runtime.hyperparameters), the channel variables (mldock.runtime.channels);
every other `MLDOCK_<KEY>` lands in `settings[<KEY>]`.
`env.log_metric(name, value, step=None)` and `env.log_param(name, value)` report metrics
(mldock.runtime.metrics).

SageMaker's layout (mldock.runtime.sagemaker) is recognised with no `MLDOCK_*` variable: its input channels
join `channels` as file:// channels onto their own folders (startup() copies nothing), its hyperparameters lose
the SDK's JSON quotes, and a model or output channel no variable sets is SageMaker's folder for it
(`channel()`); `env.sagemaker` holds the hosts, job name and checkpoint folder. `MLDOCK_*` channels add to it.
Vertex AI's `AIP_*` variables (mldock.runtime.vertex) become remote channels the same way (`env.vertex`), and
Azure ML's `AZUREML_MODEL_DIR` (mldock.runtime.azureml) the input model channel `model` onto its read-only
mount, listed in `channels` too (`env.azureml`; startup() copies nothing onto the mount); either one
recognised turns SageMaker's fallback layout (no channel variable at all) off.

`env.cluster` (mldock.runtime.cluster) says which node of a multi-node run this is, from each platform's own
variables (SageMaker's resourceconfig.json, Vertex AI's CLUSTER_SPEC, TF_CONFIG, RANK/WORLD_SIZE): rank, world
size, hosts, leader; cleanup() uploads the outputs on the leader only (MLDOCK_UPLOAD_ON_ALL_NODES lists exceptions).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from mldock import contract
from mldock.errors import ChannelError
from mldock.runtime.azureml import AzureMLLayout
from mldock.runtime.channels import (
    Channel,
    ChannelKind,
    channel_variable,
    is_channel_variable,
    parse_channels,
    require_scheme,
)
from mldock.runtime.cluster import Cluster, check_upload_setting
from mldock.runtime.hyperparameters import Hyperparameters
from mldock.runtime.metrics import MetricsLog
from mldock.runtime.redact import redact_environ
from mldock.runtime.sagemaker import SageMakerLayout, is_sagemaker_channel
from mldock.runtime.stages import parse_stage
from mldock.runtime.vertex import VertexLayout

__all__ = ["DEFAULT_BASE_DIR", "Environment"]

DEFAULT_BASE_DIR = contract.DEFAULT_BASE_DIR
E = TypeVar("E", bound="Environment")
_FIELDS = frozenset(
    {
        contract.BASE_DIR,
        contract.STAGE,
        contract.PROJECT_DIR,
        contract.HYPERPARAMETERS,
        contract.HYPERPARAMETERS_FILE_VARIABLE,
    }
)


@dataclass(frozen=True, repr=False)
class Environment:
    """Base dir, stage, channels, hyperparameters and settings of one run.

        env = Environment.from_env({"MLDOCK_INPUT_CHANNEL_TRAIN": "file:///data/train"}, base_dir=tmp_path)
        env.channel("train").path        # tmp_path / "input/data/train"
        env.hyperparameters.get("epochs", int, default=10)

    Platform environments subclass it and override `resolve_uri` to accept values without a scheme.
    """

    base_dir: Path
    stage: str
    channels: tuple[Channel, ...]
    hyperparameters: Hyperparameters
    settings: Mapping[str, str]
    project_dir: Path
    sagemaker: SageMakerLayout | None = None
    cluster: Cluster = field(default_factory=Cluster)
    """The nodes of the run (a single node unless a platform variable says otherwise)."""
    vertex: VertexLayout | None = None
    """Vertex AI's job, trial and channels when its variables are set (mldock.runtime.vertex)."""
    azureml: AzureMLLayout | None = None
    """Azure ML's mounted model when AZUREML_MODEL_DIR is set (mldock.runtime.azureml)."""
    metrics: MetricsLog | None = field(default=None, compare=False)
    """Where log_metric/log_param write (set by from_env; None: below base_dir, no hypertune file)."""

    @classmethod
    def from_env(cls: type[E], environ: Mapping[str, str] | None = None, base_dir: Path | str | None = None) -> E:
        """Read `environ` (default os.environ, read only now); `base_dir` overrides MLDOCK_BASE_DIR.

        Raises a UserError subclass (ChannelError, HyperparameterError, StageError) naming the bad variable.
        """
        source = dict(os.environ if environ is None else environ)
        if base_dir is None:
            base = contract.base_dir_from(source)
        else:
            base = contract.absolute_dir(base_dir, contract.BASE_DIR)
        project = contract.project_dir_from(source)
        channels = parse_channels(source, base, resolve_uri=cls.resolve_uri)
        sagemaker = SageMakerLayout.detect(source, base)
        vertex = VertexLayout.detect(source, base)
        azureml = AzureMLLayout.detect(source)
        if (vertex is not None or azureml is not None) and sagemaker is not None and not sagemaker.training:
            sagemaker = None  # the fallback for "no channel variable at all": this is another platform
        hyperparameters_file = base / contract.HYPERPARAMETERS_FILE
        variable_file = source.get(contract.HYPERPARAMETERS_FILE_VARIABLE)
        if sagemaker is None:
            hyperparameters = Hyperparameters.from_sources(
                hyperparameters_file, source.get(contract.HYPERPARAMETERS), variable_file=variable_file
            )
        else:
            hyperparameters = sagemaker.hyperparameters(hyperparameters_file, source.get(contract.HYPERPARAMETERS))
            if variable_file:  # between SageMaker's file and the variable
                from_variable = Hyperparameters.from_sources(None, source.get(contract.HYPERPARAMETERS))
                overlay = Hyperparameters.from_sources(None, None, variable_file=variable_file)
                hyperparameters = Hyperparameters(
                    hyperparameters.to_dict() | overlay.to_dict() | from_variable.to_dict()
                )
            configured = {(channel.kind, channel.name) for channel in channels}
            channels = (*sagemaker.input_channels(configured), *channels)
        if vertex is not None:
            configured = {(channel.kind, channel.name) for channel in channels}
            channels = (*vertex.unconfigured(configured), *channels)
        if azureml is not None:
            configured = {(channel.kind, channel.name) for channel in channels}
            channels = (*azureml.unconfigured(configured), *channels)
        settings = {
            contract.setting_key(name): value
            for name, value in sorted(source.items())
            if name.startswith(contract.PREFIX) and name not in _FIELDS and not is_channel_variable(name)
        }
        check_upload_setting(settings, channels)
        return cls(
            base_dir=base,
            stage=parse_stage(source.get(contract.STAGE)),
            channels=_sorted(channels),
            hyperparameters=hyperparameters,
            settings=MappingProxyType(settings),
            project_dir=project,
            sagemaker=sagemaker,
            cluster=Cluster.from_env(source, sagemaker),
            vertex=vertex,
            azureml=azureml,
            metrics=MetricsLog.for_run(base, source),
        )

    @classmethod
    def resolve_uri(cls, value: str, variable: str) -> str:
        """The full URI for a channel variable's `value`; the base class requires a supported scheme.

        Platform environments override this to map a bare `bucket/prefix` to their own storage.
        """
        return require_scheme(value, variable)

    # -- channels ---------------------------------------------------------------------------------------

    @property
    def input_channels(self) -> tuple[Channel, ...]:
        """Data channels startup() downloads into `<base>/input/data/<name>`."""
        return self._of(ChannelKind.INPUT)

    @property
    def input_model_channels(self) -> tuple[Channel, ...]:
        """Model channels startup() downloads into `<base>/model/<name>`."""
        return self._of(ChannelKind.INPUT_MODEL)

    @property
    def output_channels(self) -> tuple[Channel, ...]:
        """Channels cleanup() uploads from `<base>/output/<name>`."""
        return self._of(ChannelKind.OUTPUT)

    @property
    def output_model_channels(self) -> tuple[Channel, ...]:
        """Model channels cleanup() uploads from `<base>/model/<name>`."""
        return self._of(ChannelKind.OUTPUT_MODEL)

    def channel(self, name: str, kind: ChannelKind = ChannelKind.INPUT) -> Channel:
        """The channel `name` of `kind`; ChannelError listing the configured ones when there is none.

        Under SageMaker a model or output channel no variable sets is SageMaker's folder for it; under Vertex AI
        a model channel is the AIP_MODEL_DIR / AIP_STORAGE_URI one, under Azure ML the mounted model.
        """
        for channel in self.channels:
            if channel.kind is kind and channel.name == name:
                return channel
        for layout in (self.sagemaker, self.vertex, self.azureml):
            platform = layout.channel(kind, name) if layout is not None else None
            if platform is not None:
                return platform
        known = ", ".join(c.name for c in self._of(kind)) or "none"
        also = f", or give SageMaker a {name!r} channel" if self.sagemaker is not None else ""
        raise ChannelError(
            f"no {kind.value} channel {name!r} (set {channel_variable(kind, name)}{also}); configured: {known}"
        )

    def _of(self, kind: ChannelKind) -> tuple[Channel, ...]:
        """The channels of `kind` (SageMaker's input channels included)."""
        return tuple(c for c in self.channels if c.kind is kind)

    # -- paths ------------------------------------------------------------------------------------------

    @property
    def input_dir(self) -> Path:
        """`<base>/input`."""
        return self.base_dir / "input"

    @property
    def input_data_dir(self) -> Path:
        """`<base>/input/data`, the parent of the input channel folders."""
        return self.input_dir / "data"

    @property
    def config_dir(self) -> Path:
        """`<base>/input/config`, where hyperparameters.json lives."""
        return self.input_dir / "config"

    @property
    def model_dir(self) -> Path:
        """`<base>/model`, the parent of the model channel folders."""
        return self.base_dir / "model"

    @property
    def output_dir(self) -> Path:
        """`<base>/output`, the parent of the output channel folders and the failure file."""
        return self.base_dir / "output"

    @property
    def failure_file(self) -> Path:
        """`<base>/output/failure`, written when the task fails."""
        return self.base_dir / contract.FAILURE_FILE

    # -- side effects and export ------------------------------------------------------------------------

    def prepare(self, *, serving: bool = False) -> None:
        """Create the base folders and every channel folder, and remove a failure file left by an earlier run.

        `serving`: only the folders of channels a variable sets (the base dir may be read-only, as on a
        SageMaker endpoint), and a failure file only when there is one. SageMaker's own folders are never made.
        """
        if not serving:
            folders = [self.input_data_dir, self.config_dir, self.model_dir, self.output_dir]
            if self.sagemaker is not None:
                folders.append(self.sagemaker.output_data_dir)
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
        for channel in self.channels:
            if not is_sagemaker_channel(channel):
                channel.path.mkdir(parents=True, exist_ok=True)
        if not serving or self.failure_file.exists():
            self.failure_file.unlink(missing_ok=True)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Report metric `name` (mldock.runtime.metrics: a log line SageMaker's regexes read, metrics.jsonl,
        Vertex AI's hypertune file when tuning). MetricError (a UserError) for a bad name or value."""
        self._metrics().log_metric(name, value, step)

    def log_param(self, name: str, value: str | float | bool | None) -> None:
        """Record parameter `name` beside the run's metrics (`<base>/output/params.json`)."""
        self._metrics().log_param(name, value)

    def _metrics(self) -> MetricsLog:
        if self.metrics is None:
            object.__setattr__(self, "metrics", MetricsLog(self.base_dir))
        assert self.metrics is not None
        return self.metrics

    def to_environ(self) -> dict[str, str]:
        """The `MLDOCK_*` variables that rebuild this environment (channels in the current spelling).

        `Environment.from_env(env.to_environ()) == env`; the child process of the training step gets these on
        top of the inherited non-MLDOCK variables, with MLDOCK_HYPERPARAMETERS moved into a file
        (mldock.runtime.train). A file MLDOCK_HYPERPARAMETERS_FILE named is read into `hyperparameters`: the
        variables carry its values, not its path.
        """
        environ = {
            contract.BASE_DIR: str(self.base_dir),
            contract.STAGE: self.stage,
            contract.PROJECT_DIR: str(self.project_dir),
        }
        if len(self.hyperparameters):
            environ[contract.HYPERPARAMETERS] = self.hyperparameters.to_json()
        for channel in self.channels:
            if channel.variable.startswith(contract.PREFIX):  # a platform's are rebuilt from its own variables
                environ[channel_variable(channel.kind, channel.name)] = str(channel.uri)
        for key, value in self.settings.items():
            environ[contract.PREFIX + key] = value
        return environ

    def __repr__(self) -> str:
        settings = redact_environ(dict(self.settings))
        channels = ", ".join(f"{c.kind.value}:{c.name}={c.uri}" for c in self.channels)
        return (
            f"{type(self).__name__}(base_dir={str(self.base_dir)!r}, stage={self.stage!r}, "
            f"channels=[{channels}], hyperparameters={sorted(self.hyperparameters.keys())}, "
            f"settings={settings}, project_dir={str(self.project_dir)!r}"
            + (f", sagemaker={self.sagemaker.describe()!r})" if self.sagemaker is not None else ")")
        )


def _sorted(channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
    order = list(ChannelKind)
    return tuple(sorted(channels, key=lambda c: (order.index(c.kind), c.name)))
