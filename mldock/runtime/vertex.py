"""Vertex AI's container contract, recognised with no `MLDOCK_*` variable (Environment.from_env builds it).

    layout = VertexLayout.detect(environ, Path("/opt/ml"))       # None when no Vertex AI variable is set
    layout.unconfigured(configured=set())                        # the channels the AIP_* variables give
    env.channel("model", ChannelKind.OUTPUT_MODEL).uri           # gs://b/job/model/ (AIP_MODEL_DIR)

When it is recognised: any of the training variables `CLOUD_ML_JOB_ID`, `CLOUD_ML_TRIAL_ID`, `AIP_MODEL_DIR`,
`AIP_CHECKPOINT_DIR`, `AIP_TENSORBOARD_LOG_DIR`, `AIP_TRAINING_DATA_URI` (custom training, also per trial
under hyperparameter tuning), or of the prediction variables `AIP_MODE=PREDICTION`, `AIP_HTTP_PORT`,
`AIP_HEALTH_ROUTE`, `AIP_PREDICT_ROUTE`, `AIP_STORAGE_URI` (a custom prediction container). A blank value
counts as unset. SageMaker's fallback layout (no channel variable at all) is then not used.

The variables read, and the channel each becomes (an ordinary remote channel: mldock downloads it at
startup() and uploads it at cleanup(), into and from mldock's own folders):

| variable                   | mldock channel                  | folder                            |
|----------------------------|---------------------------------|-----------------------------------|
| `AIP_TRAINING_DATA_URI`    | input `train`                   | `<base>/input/data/train`         |
| `AIP_VALIDATION_DATA_URI`  | input `validation`              | `<base>/input/data/validation`    |
| `AIP_TEST_DATA_URI`        | input `test`                    | `<base>/input/data/test`          |
| `AIP_MODEL_DIR`            | output model `model`            | `<base>/model/model`              |
| `AIP_CHECKPOINT_DIR`       | output `checkpoints`            | `<base>/output/checkpoints`       |
| `AIP_TENSORBOARD_LOG_DIR`  | output `tensorboard`            | `<base>/output/tensorboard`       |
| `AIP_STORAGE_URI`          | input model `model` (serving    | `<base>/model/model`              |
|                            | downloads it before the ping)   |                                   |
| `AIP_MODEL_DIR`'s parent   | output `outputs`: every other   | `<base>/output/data`, one folder  |
| (the job's base output     | output channel, uploaded to     | `<name>` per channel              |
| directory, `<base_out>`)   | `<base_out>/<name>/`            |                                   |

- A channel an `MLDOCK_*` variable sets wins over the same kind and name here (it then keeps its own URI).
- An output model channel of any other name with no variable is the `AIP_MODEL_DIR` channel's folder, and an
  input model channel of any other name the `AIP_STORAGE_URI` one's: a trainer or predictor written for
  `env.channel("wine", ChannelKind.OUTPUT_MODEL)` runs unchanged (like SageMaker's single model folder).
- An output channel `<name>` no variable sets (`env.channel("metrics", ChannelKind.OUTPUT)`) is
  `<base>/output/data/<name>`, uploaded to `<base_out>/<name>/` beside Vertex's `model/`, `checkpoints/` and
  `logs/` (`AIP_MODEL_DIR` is `<base_out>/model/`): the one channel `outputs` uploads `<base>/output/data`
  to `<base_out>` (like SageMaker's output.tar.gz). The names `model` and `logs` are refused there (they are
  Vertex's folders); without `AIP_MODEL_DIR` there is no such place and no such channel.
- The data URIs may hold wildcards (`gs://b/dataset/training-*.csv`): only the matching objects are downloaded,
  by their names below the folder before the first wildcard (mldock.storage.blob's wildcard rule).
- A `bq://` data URI (`AIP_DATA_FORMAT=bigquery`) is refused with a ChannelError naming the variable: mldock's
  channels are files; export the dataset to Cloud Storage (csv or jsonl) or read the table in the step.
- Any other bad value (no scheme, a bad bucket) is a ChannelError naming the variable (exit 2).
- `env.vertex` holds the job id (`CLOUD_ML_JOB_ID`), trial id (`CLOUD_ML_TRIAL_ID`) and `AIP_DATA_FORMAT`.
Checkpoints and TensorBoard logs are uploaded once, at cleanup() (as every output channel); a step that must
publish them while it runs writes to the URI itself (`env.channel("checkpoints", ChannelKind.OUTPUT).uri`).
Hyperparameter tuning's `--name=value` arguments: mldock.runtime.arguments; its metric file:
mldock.runtime.metrics. Serving routes and port (`AIP_HTTP_PORT`, `AIP_HEALTH_ROUTE`, `AIP_PREDICT_ROUTE`,
equal or not): mldock.runtime.prediction_app; `{"instances": ...}` bodies: mldock.runtime.instances.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from mldock import contract
from mldock.errors import ChannelError
from mldock.runtime.channels import (
    Channel,
    ChannelKind,
    channel_variable,
    check_channel_name,
    parse_channel_uri,
    require_scheme,
)
from mldock.storage.uri import RemoteURI

__all__ = [
    "MODEL_CHANNEL",
    "OUTPUTS_CHANNEL",
    "OUTPUT_DATA_DIR",
    "PREDICTION_VARIABLES",
    "TRAINING_VARIABLES",
    "VertexLayout",
    "prediction_marker",
    "training_marker",
]

MODEL_CHANNEL = "model"
"""The name of the model channel AIP_MODEL_DIR (training) and AIP_STORAGE_URI (prediction) give."""
OUTPUTS_CHANNEL = "outputs"
"""The output channel that uploads `<base>/output/data` (every output channel no variable sets) to the job's
base output directory."""
OUTPUT_DATA_DIR = "output/data"
_VERTEX_FOLDERS = frozenset({"model", "logs"})  # below the base output directory; checkpoints is a channel

TRAINING_VARIABLES = (
    contract.CLOUD_ML_JOB_ID,
    contract.CLOUD_ML_TRIAL_ID,
    contract.AIP_MODEL_DIR,
    contract.AIP_CHECKPOINT_DIR,
    contract.AIP_TENSORBOARD_LOG_DIR,
    contract.AIP_TRAINING_DATA_URI,
)
"""Any of them set means a Vertex AI custom training job."""

PREDICTION_VARIABLES = (
    contract.AIP_HTTP_PORT,
    contract.AIP_HEALTH_ROUTE,
    contract.AIP_PREDICT_ROUTE,
    contract.AIP_STORAGE_URI,
)
"""Any of them set (or AIP_MODE=PREDICTION) means a Vertex AI prediction container."""

_CHANNELS: tuple[tuple[str, ChannelKind, str], ...] = (
    (contract.AIP_TRAINING_DATA_URI, ChannelKind.INPUT, "train"),
    (contract.AIP_VALIDATION_DATA_URI, ChannelKind.INPUT, "validation"),
    (contract.AIP_TEST_DATA_URI, ChannelKind.INPUT, "test"),
    (contract.AIP_MODEL_DIR, ChannelKind.OUTPUT_MODEL, MODEL_CHANNEL),
    (contract.AIP_CHECKPOINT_DIR, ChannelKind.OUTPUT, "checkpoints"),
    (contract.AIP_TENSORBOARD_LOG_DIR, ChannelKind.OUTPUT, "tensorboard"),
    (contract.AIP_STORAGE_URI, ChannelKind.INPUT_MODEL, MODEL_CHANNEL),
)


def _value(environ: Mapping[str, str], variable: str) -> str:
    return environ.get(variable, "").strip()


def training_marker(environ: Mapping[str, str]) -> str | None:
    """The first of TRAINING_VARIABLES set in `environ` (a Vertex AI training job), else None."""
    return next((variable for variable in TRAINING_VARIABLES if _value(environ, variable)), None)


def prediction_marker(environ: Mapping[str, str]) -> str | None:
    """`AIP_MODE` when it is `PREDICTION`, else the first of PREDICTION_VARIABLES set (a Vertex AI prediction
    container), else None."""
    if _value(environ, contract.AIP_MODE).upper() == "PREDICTION":
        return contract.AIP_MODE
    return next((variable for variable in PREDICTION_VARIABLES if _value(environ, variable)), None)


@dataclass(frozen=True)
class VertexLayout:
    """What Vertex AI's variables say about this run: its channels, job, trial and data format.

    env.vertex.job_id, env.vertex.trial_id, env.vertex.data_format, env.vertex.prediction
    """

    base_dir: Path
    channels: tuple[Channel, ...] = ()
    job_id: str | None = None
    trial_id: str | None = None
    data_format: str | None = None
    prediction: bool = False

    @classmethod
    def detect(cls, environ: Mapping[str, str], base_dir: Path) -> VertexLayout | None:
        """The layout when a Vertex AI variable is set (module docstring), else None; ChannelError naming the
        variable whose value cannot be a channel."""
        training = training_marker(environ) is not None
        prediction = prediction_marker(environ) is not None
        if not (training or prediction):
            return None
        data_format = _value(environ, contract.AIP_DATA_FORMAT) or None
        channels = tuple(
            _channel(kind, name, variable, _value(environ, variable), base_dir, data_format)
            for variable, kind, name in _CHANNELS
            if _value(environ, variable)
        )
        model_dir = next((c for c in channels if c.kind is ChannelKind.OUTPUT_MODEL), None)
        if model_dir is not None:
            base_output = model_dir.uri.prefix.rstrip("/").rpartition("/")[0]
            uri = RemoteURI(model_dir.uri.scheme, model_dir.uri.bucket, base_output)
            outputs = Channel(ChannelKind.OUTPUT, OUTPUTS_CHANNEL, uri, base_dir / OUTPUT_DATA_DIR, model_dir.variable)
            channels = (*channels, outputs)
        return cls(
            base_dir,
            channels,
            _value(environ, contract.CLOUD_ML_JOB_ID) or None,
            _value(environ, contract.CLOUD_ML_TRIAL_ID) or None,
            data_format,
            prediction and not training,
        )

    def unconfigured(self, configured: Collection[tuple[ChannelKind, str]]) -> tuple[Channel, ...]:
        """The channels the AIP_* variables give whose kind and name no `MLDOCK_*` variable sets."""
        return tuple(channel for channel in self.channels if (channel.kind, channel.name) not in configured)

    def channel(self, kind: ChannelKind, name: str) -> Channel | None:
        """A channel `name` no variable sets: a model one is the AIP_MODEL_DIR (output) or AIP_STORAGE_URI (input)
        one's folder and URI under that name, an output one `<base>/output/data/<name>` (uploaded by `outputs`);
        None otherwise. ChannelError for an output called `model` or `logs` (Vertex's own folders)."""
        check_channel_name(kind, name)
        if kind is ChannelKind.OUTPUT:
            return self._output(name)
        if kind not in (ChannelKind.OUTPUT_MODEL, ChannelKind.INPUT_MODEL):
            return None
        for channel in self.channels:
            if channel.kind is kind:
                return Channel(kind, name, channel.uri, channel.path, channel.variable, channel.optional)
        return None

    def _output(self, name: str) -> Channel | None:
        outputs = next((c for c in self.channels if c.name == OUTPUTS_CHANNEL and c.kind is ChannelKind.OUTPUT), None)
        if outputs is None:
            return None
        if name in _VERTEX_FOLDERS:
            raise ChannelError(
                f"output channel {name!r}: {outputs.uri}/{name}/ is Vertex AI's own folder; choose another name "
                f"or set {channel_variable(ChannelKind.OUTPUT, name)}"
            )
        return Channel(ChannelKind.OUTPUT, name, outputs.uri.join(name), outputs.path / name, outputs.variable)

    def describe(self) -> str:
        """One line for the log: prediction or training, job and trial, and the channels."""
        kind = "prediction" if self.prediction else "training"
        job = f" job {self.job_id}" if self.job_id else ""
        trial = f" trial {self.trial_id}" if self.trial_id else ""
        names = ", ".join(f"{c.kind.value} {c.name} ({c.variable})" for c in self.channels) or "none"
        return f"Vertex AI {kind}{job}{trial}, channels: {names}"


def _channel(
    kind: ChannelKind, name: str, variable: str, value: str, base_dir: Path, data_format: str | None
) -> Channel:
    if value.lower().startswith("bq://"):
        shown = f" ({contract.AIP_DATA_FORMAT}={data_format})" if data_format else ""
        raise ChannelError(
            f"{variable}: {value!r} is a BigQuery table{shown}; mldock's channels are files: give the dataset "
            "a Cloud Storage export (csv or jsonl), or read the table with the BigQuery client in the step"
        )
    uri = parse_channel_uri(require_scheme(value, variable), variable)
    return Channel(kind, name, uri, kind.folder(base_dir, name), variable)
