"""SageMaker's container contract, recognised with no `MLDOCK_*` variable (Environment.from_env builds it).

    layout = SageMakerLayout.detect(environ, Path("/opt/ml"))     # None when SageMaker's layout is not there
    layout.input_channels(configured=set())                       # file:// channels onto their own folders
    layout.channel(ChannelKind.OUTPUT_MODEL, "model").path        # Path("/opt/ml/model")

When it is recognised:
- SageMaker training writes `<base>/input/config/inputdataconfig.json` and `resourceconfig.json` (and sets
  `TRAINING_JOB_NAME`); either one means SageMaker. An image started with no `MLDOCK_*` channel variable at
  all (SageMaker hosting gives only the `serve` argument and the unpacked model) follows the same layout.

The mapping between mldock's named channels and SageMaker's folders:

| mldock channel (no variable sets it)  | SageMaker folder                          | who moves the data            |
|---------------------------------------|-------------------------------------------|-------------------------------|
| input `<name>`                        | `<base>/input/data/<name>` (each channel  | SageMaker, before the start:  |
|                                       | of inputdataconfig.json, each folder)     | file:// onto itself, no copy  |
| output model `<any name>`             | `<base>/model` (one folder for all names) | SageMaker packs model.tar.gz  |
| input model `<name>`                  | the input channel `<name>` when SageMaker | SageMaker                     |
|                                       | gives one, else `<base>/model` (hosting:  |                               |
|                                       | model.tar.gz unpacked there)              |                               |
| output `<name>`                       | `<base>/output/data/<name>`               | SageMaker packs output.tar.gz |
| checkpoints                           | `<base>/checkpoints` (`env.sagemaker.     | SageMaker syncs it            |
|                                       | checkpoint_dir`)                          |                               |

A channel an `MLDOCK_*` variable sets keeps mldock's own folder and is downloaded/uploaded by mldock as
everywhere else: remote channels add to SageMaker's. Model files go straight into `<base>/model`, so
model.tar.gz holds them at its top level (what SageMaker unpacks for hosting); several model channel names
share that one folder, so their files must not collide. Hyperparameters from SageMaker's file are strings, and
the SageMaker SDK JSON-quotes string values (`"\\"adam\\""`): a value that is a JSON-quoted string is unquoted,
every other value is kept (typed reads convert "10" to 10 as before). Pipe input mode is refused: mldock reads
channels as files. SageMaker's input channels are optional: an empty one is an empty folder, as SageMaker gave it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mldock import contract
from mldock.errors import ChannelError, LifecycleError
from mldock.runtime.channels import Channel, ChannelKind, check_channel_name, is_channel_variable, parse_channel_uri
from mldock.runtime.hyperparameters import Hyperparameters

__all__ = ["SOURCE", "SageMakerLayout", "is_sagemaker_channel", "unquote_values"]

SOURCE = "sagemaker:"
"""The start of `Channel.variable` for a channel SageMaker's layout gives (no variable sets it)."""


def is_sagemaker_channel(channel: Channel) -> bool:
    """True for a channel that comes from SageMaker's layout rather than an `MLDOCK_*` variable."""
    return channel.variable.startswith(SOURCE)


@dataclass(frozen=True)
class SageMakerLayout:
    """What SageMaker's layout says about this run: its input channels, hosts, job name and folders.

    env.sagemaker.hosts, env.sagemaker.current_host, env.sagemaker.is_leader
    env.sagemaker.checkpoint_dir           # <base>/checkpoints, synced by SageMaker when configured
    """

    base_dir: Path
    input_names: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    current_host: str | None = None
    job_name: str | None = None
    training: bool = False

    @classmethod
    def detect(cls, environ: Mapping[str, str], base_dir: Path) -> SageMakerLayout | None:
        """The layout when SageMaker's files or variables are there (see the module docstring), else None.

        ChannelError or LifecycleError naming the file when SageMaker's config cannot be used.
        """
        data_config = base_dir / contract.SAGEMAKER_INPUT_DATA_CONFIG_FILE
        resource_config = base_dir / contract.SAGEMAKER_RESOURCE_CONFIG_FILE
        job_name = environ.get(contract.SAGEMAKER_TRAINING_JOB_NAME) or None
        training = data_config.is_file() or resource_config.is_file() or job_name is not None
        if not training and any(is_channel_variable(name) for name in environ):
            return None
        hosts, current = _resources(resource_config)
        names = _channel_names(data_config, base_dir / "input" / "data")
        return cls(base_dir, names, hosts, current, job_name, training)

    @property
    def model_dir(self) -> Path:
        """`<base>/model`: packed into model.tar.gz after training, the unpacked model when hosting."""
        return self.base_dir / contract.SAGEMAKER_MODEL_DIR

    @property
    def output_data_dir(self) -> Path:
        """`<base>/output/data`: packed as output.tar.gz after training."""
        return self.base_dir / contract.SAGEMAKER_OUTPUT_DATA_DIR

    @property
    def checkpoint_dir(self) -> Path:
        """`<base>/checkpoints`: SageMaker's default local checkpoint folder."""
        return self.base_dir / contract.SAGEMAKER_CHECKPOINT_DIR

    @property
    def is_leader(self) -> bool:
        """True on the first host (or when resourceconfig.json names none): the host that reports."""
        return not self.hosts or self.current_host == self.hosts[0]

    @staticmethod
    def stop_deadline(task: str) -> float:
        """Seconds from SIGTERM to SIGKILL for `task`: 120 for a training job, 30 for an endpoint."""
        if task == "train":
            return contract.SAGEMAKER_TRAINING_STOP_DEADLINE
        return contract.SAGEMAKER_ENDPOINT_STOP_DEADLINE

    def input_channels(self, configured: Collection[tuple[ChannelKind, str]]) -> tuple[Channel, ...]:
        """SageMaker's input channels that no variable in `configured` sets: file:// channels onto themselves."""
        channels = []
        for folder_name in self.input_names:
            name = folder_name.lower()
            if (ChannelKind.INPUT, name) not in configured:
                channels.append(self._channel(ChannelKind.INPUT, name, self.base_dir / "input" / "data" / folder_name))
        return tuple(channels)

    def channel(self, kind: ChannelKind, name: str) -> Channel | None:
        """The channel `name` of `kind` SageMaker's folders give when no variable sets it (module table)."""
        check_channel_name(kind, name)
        if kind is ChannelKind.OUTPUT:
            return self._channel(kind, name, self.output_data_dir / name)
        if kind is ChannelKind.OUTPUT_MODEL:
            return self._channel(kind, name, self.model_dir)
        if kind is ChannelKind.INPUT_MODEL:
            for folder_name in self.input_names:
                if folder_name.lower() == name:
                    return self._channel(kind, name, self.base_dir / "input" / "data" / folder_name)
            return self._channel(kind, name, self.model_dir)
        return None

    def hyperparameters(self, file: Path, variable_value: str | None) -> Hyperparameters:
        """SageMaker's hyperparameters file (JSON-quoted strings unquoted) overlaid by `MLDOCK_HYPERPARAMETERS`."""
        from_file = unquote_values(Hyperparameters.from_sources(file, None).to_dict())
        overlay = Hyperparameters.from_sources(None, variable_value).to_dict()
        return Hyperparameters(from_file | overlay)

    def describe(self) -> str:
        """One line for the log: job, hosts and channels."""
        kind = "training" if self.training else "hosting"
        hosts = f", host {self.current_host} of {len(self.hosts)}" if self.hosts else ""
        job = f" job {self.job_name}" if self.job_name else ""
        names = ", ".join(self.input_names) or "none"
        return f"SageMaker {kind}{job}{hosts}, input channels: {names}"

    def _channel(self, kind: ChannelKind, name: str, path: Path) -> Channel:
        variable = f"{SOURCE}{path}"
        uri = parse_channel_uri(path.as_uri(), variable)
        return Channel(kind, name, uri, path, variable, optional=kind.is_input)  # SageMaker may give an empty one


def unquote_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with each JSON-quoted string (`'"adam"'`, as the SageMaker SDK writes it) unquoted."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str) and len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = value
            result[key] = decoded if isinstance(decoded, str) else value
        else:
            result[key] = value
    return result


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise LifecycleError(f"{path}: SageMaker's config file cannot be read as JSON ({exc})") from exc


def _resources(path: Path) -> tuple[tuple[str, ...], str | None]:
    data = _read_json(path)
    if data is None:
        return (), None
    hosts = data.get("hosts") if isinstance(data, dict) else None
    current = data.get("current_host") if isinstance(data, dict) else None
    if not (isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)) or not isinstance(current, str):
        raise LifecycleError(f'{path}: expected {{"current_host": "algo-1", "hosts": ["algo-1", ...]}}')
    return tuple(hosts), current


def _channel_names(config: Path, data_dir: Path) -> tuple[str, ...]:
    """Channel folder names from inputdataconfig.json and the folders below input/data; Pipe mode refused."""
    data = _read_json(config)
    if data is not None and not isinstance(data, dict):
        raise LifecycleError(f"{config}: expected a JSON object of channel name -> settings")
    names: dict[str, str] = {}
    for name, settings in (data or {}).items():
        mode = settings.get("TrainingInputMode", "File") if isinstance(settings, dict) else "File"
        if mode == "Pipe":
            raise ChannelError(
                f"{config}: channel {name!r} uses Pipe input mode; mldock reads channels as files: use File "
                "(or FastFile) input mode"
            )
        names[name.lower()] = name
    try:
        folders = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    except OSError:
        folders = []
    for folder in folders:
        previous = names.setdefault(folder.lower(), folder)
        if previous != folder:
            raise ChannelError(f"{data_dir}: the channel folders {previous!r} and {folder!r} differ only in case")
    for name in names.values():
        try:
            check_channel_name(ChannelKind.INPUT, name.lower())
        except ChannelError as exc:
            raise ChannelError(f"{config}: SageMaker channel {name!r}: {exc}") from exc
    return tuple(names[key] for key in sorted(names))
