"""The container's command line: which task runs, hyperparameters and channels given as arguments.

    invocation = parse_arguments(["--learning_rate=0.1", "--layers", "3"], environ)
    invocation.task                       # "train" (no task named: decided from the platform's variables)
    invocation.environ(environ)           # environ + MLDOCK_HYPERPARAMETERS holding learning_rate and layers

Grammar: `[train|serve] [ARGUMENT ...]`, each ARGUMENT one of
- `--input-channel NAME=LOCATION`, `--output-channel NAME=LOCATION`, `--input-model-channel NAME=LOCATION`,
  `--output-model-channel NAME=LOCATION` (also written `--input-channel=NAME=LOCATION`): a channel, as the
  variable `MLDOCK_<KIND>_CHANNEL_<NAME>` would set it. LOCATION is an absolute path (a mounted folder, as
  Azure ML passes `${{inputs.train}}` and `${{outputs.model}}`: it becomes a file:// channel, so startup()
  copies the input into the channel's folder and cleanup() copies the output back) or a storage URI. These four
  names are reserved: they are never hyperparameters.
- `--NAME=VALUE` or `--NAME VALUE` (the next argument is the value unless it starts with `--`; `-1` is a value):
  the hyperparameter NAME (as written, `-` kept) with the text VALUE, as Vertex AI's hyperparameter tuning
  appends `--learning_rate=0.1`. Values stay text, as SageMaker's are: typed reads convert them
  (`env.hyperparameters.get("learning_rate", float)`). They overlay the hyperparameters file and
  `MLDOCK_HYPERPARAMETERS`: the command line wins.
Refused with a UserError (exit 2) naming the argument: a bare `--NAME` with no value, a name given twice, an
empty name, a channel argument without `NAME=`, a relative LOCATION, an argument that is neither (`x`, `-x`), a
task word after the first argument, and a channel variable of the environment set again by an argument.

The no-task rule (`default_task`): with no task argument the task comes from, in order,
1. `MLDOCK_TASK` (`train` or `serve`), when set;
2. Vertex AI prediction: `AIP_MODE=PREDICTION`, or any of `AIP_HTTP_PORT`, `AIP_HEALTH_ROUTE`,
   `AIP_PREDICT_ROUTE`, `AIP_STORAGE_URI` → serve (mldock.runtime.vertex.PREDICTION_VARIABLES);
3. Azure ML online deployment: `AZUREML_MODEL_DIR` → serve;
4. Vertex AI training: any of `CLOUD_ML_JOB_ID`, `CLOUD_ML_TRIAL_ID`, `AIP_MODEL_DIR`, `AIP_CHECKPOINT_DIR`,
   `AIP_TENSORBOARD_LOG_DIR`, `AIP_TRAINING_DATA_URI` → train (mldock.runtime.vertex.TRAINING_VARIABLES);
5. otherwise train (contract.DEFAULT_TASK: `docker run IMAGE` trains, as the image's old `CMD ["train"]` did).
Parsing reads only its arguments and raises nothing but UserError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from mldock import contract
from mldock.errors import UserError
from mldock.runtime.channels import ChannelKind, channel_variable, check_channel_name
from mldock.runtime.hyperparameters import Hyperparameters
from mldock.runtime.vertex import prediction_marker, training_marker

__all__ = ["CHANNEL_ARGUMENTS", "Invocation", "default_task", "parse_arguments"]

CHANNEL_ARGUMENTS: dict[str, ChannelKind] = {
    "--input-channel": ChannelKind.INPUT,
    "--output-channel": ChannelKind.OUTPUT,
    "--input-model-channel": ChannelKind.INPUT_MODEL,
    "--output-model-channel": ChannelKind.OUTPUT_MODEL,
}
"""The channel arguments and the kind each sets."""


@dataclass(frozen=True)
class Invocation:
    """What the command line asks for: the task, why that task, hyperparameters and channel variables."""

    task: str
    reason: str
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    """Channel variable (MLDOCK_INPUT_CHANNEL_TRAIN) -> URI, from the channel arguments."""

    def environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        """`environ` plus the arguments as the contract's variables: the channel variables, and
        `MLDOCK_HYPERPARAMETERS` overlaid by the command-line hyperparameters (a copy; nothing is written).

        UserError naming the variable when an argument sets a channel the environment sets already, or when
        `MLDOCK_HYPERPARAMETERS` is not a JSON object.
        """
        result = dict(environ)
        for variable, uri in self.channels.items():
            if variable in environ:
                raise UserError(f"{variable} is set and a channel argument sets the same channel; keep one of them")
            result[variable] = uri
        if self.hyperparameters:
            current = Hyperparameters.from_sources(None, environ.get(contract.HYPERPARAMETERS)).to_dict()
            result[contract.HYPERPARAMETERS] = Hyperparameters(current | dict(self.hyperparameters)).to_json()
        return result


def default_task(environ: Mapping[str, str]) -> tuple[str, str]:
    """The task to run when no argument names one, and why (the module's no-task rule).

    UserError naming MLDOCK_TASK when it is set to something else than train or serve.
    """
    chosen = environ.get(contract.TASK, "").strip()
    if chosen:
        if chosen not in contract.TASKS:
            raise UserError(f"{contract.TASK}: {chosen!r} is not a task; use {' or '.join(contract.TASKS)}")
        return chosen, f"{contract.TASK}={chosen}"
    prediction = prediction_marker(environ)
    if prediction is not None:
        shown = f"{prediction}=PREDICTION" if prediction == contract.AIP_MODE else f"{prediction} is set"
        return "serve", f"{shown} (Vertex AI prediction)"
    if environ.get(contract.AZUREML_MODEL_DIR, "").strip():
        return "serve", f"{contract.AZUREML_MODEL_DIR} is set (Azure ML online deployment)"
    training = training_marker(environ)
    if training is not None:
        return "train", f"{training} is set (Vertex AI training)"
    return contract.DEFAULT_TASK, "no task argument and no platform variable: the default"


def parse_arguments(argv: Sequence[str], environ: Mapping[str, str]) -> Invocation:
    """The Invocation `argv` (the arguments after the program name) asks for; UserError naming a bad argument."""
    arguments = list(argv)
    if arguments and arguments[0] in contract.TASKS:
        task, reason = arguments.pop(0), "named by the first argument"
    else:
        task, reason = default_task(environ)
    hyperparameters: dict[str, str] = {}
    channels: dict[str, str] = {}
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        position += 1
        if argument in contract.TASKS:
            raise UserError(
                f"argument {argument!r}: the task must be the first argument "
                f"(mldock-entrypoint {argument} --name=value)"
            )
        if not argument.startswith("--") or argument == "--":
            raise UserError(
                f"argument {argument!r} is not understood; give hyperparameters as --name=value and channels as "
                "--input-channel NAME=LOCATION (the task, train or serve, comes first)"
            )
        name, has_value, value = argument[2:].partition("=")
        if not has_value:
            if position >= len(arguments) or arguments[position].startswith("--"):
                raise UserError(f"argument {argument!r} has no value; write {argument}=VALUE")
            value = arguments[position]
            position += 1
        option = f"--{name}"
        if option in CHANNEL_ARGUMENTS:
            variable, uri = _channel(option, value)
            if variable in channels:
                raise UserError(f"argument {option} {value}: the channel is given twice")
            channels[variable] = uri
            continue
        if not name.strip() or name != name.strip():
            raise UserError(f"argument {argument!r}: the hyperparameter name is empty or has surrounding spaces")
        if name in hyperparameters:
            raise UserError(f"argument {argument!r}: the hyperparameter {name!r} is given twice")
        hyperparameters[name] = value
    return Invocation(task, reason, hyperparameters, channels)


def _channel(option: str, value: str) -> tuple[str, str]:
    """The variable and URI of the channel argument `option NAME=LOCATION`."""
    kind = CHANNEL_ARGUMENTS[option]
    name, has_location, location = value.partition("=")
    if not has_location or not name.strip() or not location.strip():
        raise UserError(f"argument {option} {value!r}: write {option} NAME=LOCATION (an absolute path or a URI)")
    channel_name = name.strip().lower()
    try:
        check_channel_name(kind, channel_name)
    except UserError as exc:
        raise UserError(f"argument {option} {value!r}: {exc}") from None
    location = location.strip()
    if "://" in location:
        return channel_variable(kind, channel_name), location
    if not location.startswith("/"):
        raise UserError(
            f"argument {option} {value!r}: {location!r} is neither an absolute path nor a URI (s3://, gs://, "
            "az://, file://)"
        )
    return channel_variable(kind, channel_name), PurePosixPath(location).as_uri()
