"""Azure ML's container contract, recognised with no `MLDOCK_*` variable (Environment.from_env builds it).

    layout = AzureMLLayout.detect(environ)                        # None when AZUREML_MODEL_DIR is not set
    env.input_model_channels                                      # (the `model` channel onto the mount,)
    env.channel("model", ChannelKind.INPUT_MODEL).path            # the mounted model, read where it is

Online deployments with a custom container (serving):
- The image is started with no command (the deployment has no way to give one): the entrypoint's no-task rule
  serves when `AZUREML_MODEL_DIR` is set (mldock.runtime.arguments; `MLDOCK_TASK=serve` for a deployment
  without a model).
- `AZUREML_MODEL_DIR` (an absolute folder; Azure mounts the registered model read-only under
  `/var/azureml-app/azureml-models/<name>/<version>`, or at the deployment's `model_mount_path`): an input
  model channel `<name>` no variable sets is `$AZUREML_MODEL_DIR/<name>` when that folder exists (a model
  registered from a folder called `<name>`), else `$AZUREML_MODEL_DIR` itself. It is a file:// channel onto
  the mount: nothing is copied and nothing is written there. The `model` channel joins `env.channels` (and
  `env.input_model_channels`) unless an `MLDOCK_*` variable sets it, as Vertex AI's AIP_STORAGE_URI one does,
  so a predictor that looks for an input model channel finds it. A value that is not an absolute path to an
  existing folder is a ChannelError naming the variable (exit 2). SageMaker's fallback layout is then not used.
- Port 5001 (Azure ML's inference server's) unless `MLDOCK_SERVE_PORT` (or `SAGEMAKER_BIND_TO_PORT`,
  `AIP_HTTP_PORT`) says otherwise (mldock.contract.serve_port). Routes (mldock.runtime.prediction_app): liveness
  `GET /` (200 while the server runs, also during startup), readiness `GET /ping` (200 once the model is
  loaded), scoring `POST /score`; `/ping` and `/invocations` work as everywhere. The deployment's
  inference_config: `liveness_route: {port: 5001, path: /}`, `readiness_route: {port: 5001, path: /ping}`,
  `scoring_route: {port: 5001, path: /score}`.

Command jobs (training): the job's command passes its mounted inputs and outputs as arguments,
`mldock-entrypoint train --input-channel train=${{inputs.train}} --output-channel model=${{outputs.model}}`
(also `--input-model-channel`, `--output-model-channel`): each becomes a file:// channel, copied into mldock's
channel folder at startup() and back to the mounted output at cleanup(); `--name=value` arguments are
hyperparameters (mldock.runtime.arguments holds the grammar).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from mldock import contract
from mldock.errors import ChannelError
from mldock.runtime.channels import Channel, ChannelKind, check_channel_name, parse_channel_uri

__all__ = ["MODEL_CHANNEL", "AzureMLLayout"]

MODEL_CHANNEL = "model"
"""The input model channel Azure ML's mounted model is listed as in `env.channels` (as Vertex AI's)."""


@dataclass(frozen=True)
class AzureMLLayout:
    """What Azure ML's variables say about this run: the mounted model folder.

    env.azureml.model_dir        # Path("/var/azureml-app/azureml-models/wine/3")
    """

    model_dir: Path

    @classmethod
    def detect(cls, environ: Mapping[str, str]) -> AzureMLLayout | None:
        """The layout when `AZUREML_MODEL_DIR` is set (module docstring), else None; ChannelError naming the
        variable when it is not an absolute path to an existing folder."""
        value = environ.get(contract.AZUREML_MODEL_DIR, "").strip()
        if not value:
            return None
        path = Path(value)
        if not path.is_absolute() or "\x00" in value:
            raise ChannelError(f"{contract.AZUREML_MODEL_DIR}: {value!r} is not an absolute folder path")
        if not path.is_dir():
            raise ChannelError(
                f"{contract.AZUREML_MODEL_DIR}: {value} is not a folder (Azure ML mounts the deployment's model "
                "there; check the deployment's model and model_mount_path)"
            )
        return cls(path)

    def channel(self, kind: ChannelKind, name: str) -> Channel | None:
        """The input model channel `name` no variable sets: `$AZUREML_MODEL_DIR/<name>` when that folder exists,
        else `$AZUREML_MODEL_DIR`; None for other kinds."""
        if kind is not ChannelKind.INPUT_MODEL:
            return None
        check_channel_name(kind, name)
        named = self.model_dir / name
        path = named if named.is_dir() else self.model_dir
        uri = parse_channel_uri(path.as_uri(), contract.AZUREML_MODEL_DIR)
        return Channel(kind, name, uri, path, contract.AZUREML_MODEL_DIR)

    def unconfigured(self, configured: Collection[tuple[ChannelKind, str]]) -> tuple[Channel, ...]:
        """The input model channel `model` (MODEL_CHANNEL) onto the mount, unless `configured` (the channels
        variables set) has it."""
        if (ChannelKind.INPUT_MODEL, MODEL_CHANNEL) in configured:
            return ()
        channel = self.channel(ChannelKind.INPUT_MODEL, MODEL_CHANNEL)
        return () if channel is None else (channel,)

    def describe(self) -> str:
        """One line for the log."""
        return f"Azure ML online deployment, model mounted at {self.model_dir}"
