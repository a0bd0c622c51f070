"""The container contract's names and rules: one home for the runtime inside the image and the tooling outside.

    from mldock import contract

    contract.serve_port({"AIP_HTTP_PORT": "9000"})            # 9000: MLDOCK_SERVE_PORT, else AIP_HTTP_PORT, else 8080
    contract.project_dir_from({}, cwd=Path("/work"))          # Path("/work"): MLDOCK_PROJECT_DIR, else the cwd
    contract.is_stage_name("prod")                            # True
    contract.is_truthy(environ.get(contract.CREATE_MISSING_BUCKETS))

Rules:
- Every variable of the contract starts with `MLDOCK_`; Environment keeps the ones it has no field for in
  `settings`, keyed without the prefix (`setting_key(SERVE_PORT) == "SERVE_PORT"`).
- A folder variable (`MLDOCK_BASE_DIR`, `MLDOCK_PROJECT_DIR`) is unset (the default applies), or a path:
  surrounding whitespace is ignored, a relative path is taken from the working directory and normalised, and
  an empty value or one holding a NUL byte is a UserError naming the variable.
- A stage name is lower-case letters, digits, `_` or `-`, starting with a letter, at most 63 characters.
- A setting is true when spelled 1/true/yes/on in any case, with any surrounding whitespace.
- The serving port is `MLDOCK_SERVE_PORT`, else SageMaker's `SAGEMAKER_BIND_TO_PORT`, else Vertex AI's
  `AIP_HTTP_PORT` (the first non-empty one), else 5001 (Azure ML's inference-server port) when Azure ML's
  `AZUREML_MODEL_DIR` is set, else 8080.
- The stop grace `MLDOCK_STOP_GRACE_SECONDS` (default 20) is a number of seconds from 0 to 1e6.
- The stop deadline `MLDOCK_STOP_DEADLINE_SECONDS` is how long after the first SIGTERM the platform kills the
  container (SageMaker: 120 s for training, 30 s for endpoints, the default when SageMaker's layout is
  recognised; none elsewhere). With a deadline the step (or the request drain) gets at most half of it less
  `STOP_MARGIN_SECONDS`, and cleanup must end `STOP_MARGIN_SECONDS` before it (mldock.runtime.lifecycle).
- SageMaker (mldock.runtime.sagemaker): its config files below `<base>/input/config`, its single model folder
  `<base>/model` (packed into model.tar.gz, unpacked there for hosting), its output folder `<base>/output/data`
  (packed as output.tar.gz), `<base>/checkpoints`, `TRAINING_JOB_NAME`, `SAGEMAKER_BIND_TO_PORT`, the custom
  attributes header, `/execution-parameters`; SageMaker reads the first 1024 characters of the failure file.
- Serving limits (mldock.runtime.serve applies them; each a positive number, a bad value is a UserError naming
  the variable): `MLDOCK_SERVE_CONNECTION_LIMIT` (100 open connections; past it the connection that waits
  longest without a request in service is closed, so a new one, a health check say, is always accepted),
  `MLDOCK_SERVE_HEADER_TIMEOUT` (10 s from a request's first byte to the end of its headers),
  `MLDOCK_SERVE_BODY_TIMEOUT` (60 s from the end of the headers to the end of the body), and
  `MLDOCK_SERVE_IDLE_TIMEOUT` (120 s of silence on a keep-alive connection with no request; longer than the
  60 s idle timeout of the usual load balancers in front). A request that misses a timeout gets
  408 and its connection is closed.

Channel variable prefixes (`MLDOCK_INPUT_CHANNEL_` ...) live with their parser in mldock.runtime.channels.
Every function here reads only its arguments (the working directory and home folder only when not given);
nothing happens at import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from mldock.errors import UserError

__all__ = [
    "AIP_CHECKPOINT_DIR",
    "AIP_DATA_FORMAT",
    "AIP_HEALTH_ROUTE",
    "AIP_HTTP_PORT",
    "AIP_MODE",
    "AIP_MODEL_DIR",
    "AIP_PREDICT_ROUTE",
    "AIP_STORAGE_URI",
    "AIP_TENSORBOARD_LOG_DIR",
    "AIP_TEST_DATA_URI",
    "AIP_TRAINING_DATA_URI",
    "AIP_VALIDATION_DATA_URI",
    "AZUREML_LIVENESS_ROUTE",
    "AZUREML_MODEL_DIR",
    "AZUREML_SCORING_ROUTE",
    "AZUREML_SERVE_PORT",
    "BASE_DIR",
    "CACHE_DIR",
    "CLOUD_ML_JOB_ID",
    "CLOUD_ML_TRIAL_ID",
    "CREATE_MISSING_BUCKETS",
    "DEFAULT_BASE_DIR",
    "DEFAULT_HEALTH_ROUTE",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PREDICT_ROUTE",
    "DEFAULT_SERVE_BODY_TIMEOUT",
    "DEFAULT_SERVE_CONNECTION_LIMIT",
    "DEFAULT_SERVE_HEADER_TIMEOUT",
    "DEFAULT_SERVE_HOST",
    "DEFAULT_SERVE_IDLE_TIMEOUT",
    "DEFAULT_SERVE_PORT",
    "DEFAULT_SERVE_TARGET",
    "DEFAULT_SERVE_THREADS",
    "DEFAULT_STAGE",
    "DEFAULT_STOP_GRACE_SECONDS",
    "DEFAULT_TASK",
    "DEFAULT_TRAIN_TARGET",
    "FAILURE_FILE",
    "HYPERPARAMETERS",
    "HYPERPARAMETERS_FILE",
    "HYPERPARAMETERS_FILE_VARIABLE",
    "IMAGE_PROJECT_DIR",
    "IMPLICIT_STAGES",
    "LOG_LEVEL",
    "MAX_STAGE_LENGTH",
    "PREFIX",
    "PROJECT_DIR",
    "SAGEMAKER_BIND_TO_PORT",
    "SAGEMAKER_CHECKPOINT_DIR",
    "SAGEMAKER_CUSTOM_ATTRIBUTES_HEADER",
    "SAGEMAKER_ENDPOINT_STOP_DEADLINE",
    "SAGEMAKER_EXECUTION_PARAMETERS_ROUTE",
    "SAGEMAKER_FAILURE_LIMIT",
    "SAGEMAKER_INPUT_DATA_CONFIG_FILE",
    "SAGEMAKER_MODEL_DIR",
    "SAGEMAKER_OUTPUT_DATA_DIR",
    "SAGEMAKER_RESOURCE_CONFIG_FILE",
    "SAGEMAKER_TRAINING_JOB_NAME",
    "SAGEMAKER_TRAINING_STOP_DEADLINE",
    "SERVE",
    "SERVE_BODY_TIMEOUT",
    "SERVE_CONNECTION_LIMIT",
    "SERVE_HEADER_TIMEOUT",
    "SERVE_HOST",
    "SERVE_IDLE_TIMEOUT",
    "SERVE_MAX_BODY_BYTES",
    "SERVE_PORT",
    "SERVE_THREADS",
    "SERVING_CONTAINER",
    "STAGE",
    "STAGE_NAME_PATTERN",
    "STAGE_NAME_RULE",
    "STOP_DEADLINE_SECONDS",
    "STOP_GRACE_SECONDS",
    "STOP_MARGIN_SECONDS",
    "STORAGE_TIMEOUT",
    "TASK",
    "TASKS",
    "TRAIN",
    "TRAINING_CONTAINER",
    "TRANSFER_PROCESSES",
    "TRUTHY_VALUES",
    "absolute_dir",
    "base_dir_from",
    "cache_dir",
    "is_stage_name",
    "is_truthy",
    "project_dir_from",
    "serve_port",
    "setting_key",
    "stop_deadline_seconds",
    "stop_grace_seconds",
]

PREFIX: Final = "MLDOCK_"

# -- variables the runtime reads -------------------------------------------------------------------------
BASE_DIR: Final = "MLDOCK_BASE_DIR"
STAGE: Final = "MLDOCK_STAGE"
PROJECT_DIR: Final = "MLDOCK_PROJECT_DIR"
HYPERPARAMETERS: Final = "MLDOCK_HYPERPARAMETERS"
HYPERPARAMETERS_FILE_VARIABLE: Final = "MLDOCK_HYPERPARAMETERS_FILE"
"""A JSON file holding what MLDOCK_HYPERPARAMETERS would (values of any size: no environment-size limit)."""
TRAIN: Final = "MLDOCK_TRAIN"
SERVE: Final = "MLDOCK_SERVE"
TRAINING_CONTAINER: Final = "MLDOCK_TRAINING_CONTAINER"
SERVING_CONTAINER: Final = "MLDOCK_SERVING_CONTAINER"
LOG_LEVEL: Final = "MLDOCK_LOG_LEVEL"
STOP_GRACE_SECONDS: Final = "MLDOCK_STOP_GRACE_SECONDS"
STOP_DEADLINE_SECONDS: Final = "MLDOCK_STOP_DEADLINE_SECONDS"
SERVE_PORT: Final = "MLDOCK_SERVE_PORT"
SERVE_HOST: Final = "MLDOCK_SERVE_HOST"
SERVE_THREADS: Final = "MLDOCK_SERVE_THREADS"
SERVE_MAX_BODY_BYTES: Final = "MLDOCK_SERVE_MAX_BODY_BYTES"
SERVE_CONNECTION_LIMIT: Final = "MLDOCK_SERVE_CONNECTION_LIMIT"
SERVE_HEADER_TIMEOUT: Final = "MLDOCK_SERVE_HEADER_TIMEOUT"
SERVE_BODY_TIMEOUT: Final = "MLDOCK_SERVE_BODY_TIMEOUT"
SERVE_IDLE_TIMEOUT: Final = "MLDOCK_SERVE_IDLE_TIMEOUT"
CREATE_MISSING_BUCKETS: Final = "MLDOCK_CREATE_MISSING_BUCKETS"
STORAGE_TIMEOUT: Final = "MLDOCK_STORAGE_TIMEOUT"  # seconds; its rule lives in mldock.storage.retry
TRANSFER_PROCESSES: Final = "MLDOCK_TRANSFER_PROCESSES"  # auto or 1-64; its rule lives in mldock.storage.spread
TASK: Final = "MLDOCK_TASK"
"""The task `mldock-entrypoint` runs when no argument names one (mldock.runtime.arguments: the no-task rule)."""

# -- variables the tooling reads --------------------------------------------------------------------------
CACHE_DIR: Final = "MLDOCK_CACHE_DIR"

# -- Vertex AI's prediction-container variables -----------------------------------------------------------
AIP_HTTP_PORT: Final = "AIP_HTTP_PORT"
AIP_HEALTH_ROUTE: Final = "AIP_HEALTH_ROUTE"
AIP_PREDICT_ROUTE: Final = "AIP_PREDICT_ROUTE"
AIP_STORAGE_URI: Final = "AIP_STORAGE_URI"
AIP_MODE: Final = "AIP_MODE"
"""`PREDICTION` in a Vertex AI prediction container."""

# -- Vertex AI's training variables (mldock.runtime.vertex) -----------------------------------------------
AIP_MODEL_DIR: Final = "AIP_MODEL_DIR"
AIP_CHECKPOINT_DIR: Final = "AIP_CHECKPOINT_DIR"
AIP_TENSORBOARD_LOG_DIR: Final = "AIP_TENSORBOARD_LOG_DIR"
AIP_TRAINING_DATA_URI: Final = "AIP_TRAINING_DATA_URI"
AIP_VALIDATION_DATA_URI: Final = "AIP_VALIDATION_DATA_URI"
AIP_TEST_DATA_URI: Final = "AIP_TEST_DATA_URI"
AIP_DATA_FORMAT: Final = "AIP_DATA_FORMAT"
CLOUD_ML_JOB_ID: Final = "CLOUD_ML_JOB_ID"
CLOUD_ML_TRIAL_ID: Final = "CLOUD_ML_TRIAL_ID"

# -- Azure ML's online-deployment contract (mldock.runtime.azureml) ---------------------------------------
AZUREML_MODEL_DIR: Final = "AZUREML_MODEL_DIR"
AZUREML_SERVE_PORT: Final = 5001
"""The port of Azure ML's prebuilt inference server: mldock's default when AZUREML_MODEL_DIR is set."""
AZUREML_LIVENESS_ROUTE: Final = "/"
AZUREML_SCORING_ROUTE: Final = "/score"

# -- SageMaker's container contract (training and hosting) ------------------------------------------------
SAGEMAKER_TRAINING_JOB_NAME: Final = "TRAINING_JOB_NAME"
SAGEMAKER_BIND_TO_PORT: Final = "SAGEMAKER_BIND_TO_PORT"
SAGEMAKER_INPUT_DATA_CONFIG_FILE: Final = "input/config/inputdataconfig.json"
SAGEMAKER_RESOURCE_CONFIG_FILE: Final = "input/config/resourceconfig.json"
SAGEMAKER_MODEL_DIR: Final = "model"
SAGEMAKER_OUTPUT_DATA_DIR: Final = "output/data"
SAGEMAKER_CHECKPOINT_DIR: Final = "checkpoints"
SAGEMAKER_CUSTOM_ATTRIBUTES_HEADER: Final = "X-Amzn-SageMaker-Custom-Attributes"
SAGEMAKER_EXECUTION_PARAMETERS_ROUTE: Final = "/execution-parameters"
SAGEMAKER_FAILURE_LIMIT: Final = 1024
"""Characters of the failure file SageMaker shows as the job's FailureReason."""
SAGEMAKER_TRAINING_STOP_DEADLINE: Final = 120.0
"""Seconds from SIGTERM to SIGKILL when a training job is stopped."""
SAGEMAKER_ENDPOINT_STOP_DEADLINE: Final = 30.0
"""Seconds from SIGTERM to SIGKILL when an endpoint's container is stopped."""

# -- defaults and fixed places ----------------------------------------------------------------------------
DEFAULT_BASE_DIR: Final = Path("/opt/ml")
IMAGE_PROJECT_DIR: Final = "/opt/program"
HYPERPARAMETERS_FILE: Final = "input/config/hyperparameters.json"
FAILURE_FILE: Final = "output/failure"
DEFAULT_STAGE: Final = "dev"
DEFAULT_TRAIN_TARGET: Final = "trainer:train"
DEFAULT_SERVE_TARGET: Final = "predictor:Predictor"
DEFAULT_STOP_GRACE_SECONDS: Final = 20.0
STOP_MARGIN_SECONDS: Final = 5.0
"""Seconds kept free before a stop deadline: the exit itself (failure file, logs) happens in them."""
DEFAULT_SERVE_PORT: Final = 8080
DEFAULT_SERVE_HOST: Final = "0.0.0.0"
DEFAULT_SERVE_THREADS: Final = 4
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024
DEFAULT_SERVE_CONNECTION_LIMIT: Final = 100
DEFAULT_SERVE_HEADER_TIMEOUT: Final = 10.0
DEFAULT_SERVE_BODY_TIMEOUT: Final = 60.0
DEFAULT_SERVE_IDLE_TIMEOUT: Final = 120.0
DEFAULT_HEALTH_ROUTE: Final = "/ping"
DEFAULT_PREDICT_ROUTE: Final = "/invocations"
TASKS: Final = ("train", "serve")
DEFAULT_TASK: Final = "train"
"""The task when no argument, no MLDOCK_TASK and no platform variable names one (`docker run IMAGE` trains)."""

# -- rules ------------------------------------------------------------------------------------------------
TRUTHY_VALUES: Final = frozenset({"1", "true", "yes", "on"})
MAX_STAGE_LENGTH: Final = 63
IMPLICIT_STAGES: Final = ("dev", "test")
"""Stages every project has, empty unless `mldock.json` says more."""
STAGE_NAME_PATTERN: Final = "^[a-z][a-z0-9_-]{0,62}$"  # also valid in JSON Schema
STAGE_NAME_RULE: Final = "lower-case letters, digits, '_' or '-', starting with a letter, at most 63 characters"
_STAGE_NAME = re.compile(STAGE_NAME_PATTERN)


def setting_key(variable: str) -> str:
    """The key of `variable` in Environment.settings: its name without the `MLDOCK_` prefix."""
    return variable.removeprefix(PREFIX)


def is_truthy(value: str | None) -> bool:
    """True for a setting spelled 1/true/yes/on (any case, surrounding whitespace ignored)."""
    return value is not None and value.strip().lower() in TRUTHY_VALUES


def is_stage_name(value: str) -> bool:
    """True when `value` follows the stage-name rule (STAGE_NAME_RULE)."""
    return isinstance(value, str) and _STAGE_NAME.fullmatch(value) is not None


def absolute_dir(value: str | os.PathLike[str], variable: str, *, cwd: Path | None = None) -> Path:
    """The folder `value` names, absolute and normalised; UserError naming `variable` when it is no path."""
    text = os.fspath(value).strip()
    if not text or "\x00" in text:
        raise UserError(f"{variable}: {os.fspath(value)!r} is not a folder path; unset it or give an absolute path")
    base = Path.cwd() if cwd is None else cwd
    return Path(os.path.normpath(os.path.join(base, text)))


def base_dir_from(environ: Mapping[str, str], *, cwd: Path | None = None) -> Path:
    """`MLDOCK_BASE_DIR` as an absolute folder, or /opt/ml when unset; UserError for an unusable value."""
    value = environ.get(BASE_DIR)
    return DEFAULT_BASE_DIR if value is None else absolute_dir(value, BASE_DIR, cwd=cwd)


def project_dir_from(environ: Mapping[str, str], *, cwd: Path | None = None) -> Path:
    """`MLDOCK_PROJECT_DIR` as an absolute folder, or the working directory when unset.

    `cwd` stands for the working directory (default: the process's, read now); UserError for an unusable value.
    """
    value = environ.get(PROJECT_DIR)
    if value is None:
        return Path.cwd() if cwd is None else cwd
    return absolute_dir(value, PROJECT_DIR, cwd=cwd)


def serve_port(environ: Mapping[str, str]) -> int:
    """The serving port: `MLDOCK_SERVE_PORT`, else `SAGEMAKER_BIND_TO_PORT`, else `AIP_HTTP_PORT`, else 5001 when
    `AZUREML_MODEL_DIR` is set (Azure ML), else 8080.

    UserError naming the variable when its value is not a port number (0..65535; 0 lets the system choose).
    """
    for variable in (SERVE_PORT, SAGEMAKER_BIND_TO_PORT, AIP_HTTP_PORT):
        value = environ.get(variable)
        if value:
            try:
                port = int(value.strip())
            except ValueError:
                raise UserError(f"{variable}: {value!r} is not a port number") from None
            if not 0 <= port <= 65535:
                raise UserError(f"{variable}: {value!r} is out of range (0..65535)")
            return port
    if environ.get(AZUREML_MODEL_DIR, "").strip():
        return AZUREML_SERVE_PORT
    return DEFAULT_SERVE_PORT


def stop_grace_seconds(environ: Mapping[str, str]) -> float:
    """`MLDOCK_STOP_GRACE_SECONDS`, else 20: how long a stopping task waits before it kills or closes.

    UserError naming the variable when the value is not a number of seconds from 0 to 1e6.
    """
    value = environ.get(STOP_GRACE_SECONDS)
    if value is None:
        return DEFAULT_STOP_GRACE_SECONDS
    try:
        seconds = float(value.strip())
    except ValueError:
        raise UserError(f"{STOP_GRACE_SECONDS}: {value!r} is not a number of seconds") from None
    if not 0 <= seconds <= 1e6:
        raise UserError(f"{STOP_GRACE_SECONDS}: {value!r} is out of range (0..1e6 seconds)")
    return seconds


def stop_deadline_seconds(environ: Mapping[str, str], default: float | None = None) -> float | None:
    """`MLDOCK_STOP_DEADLINE_SECONDS`, else `default` (the platform's, None when unbounded).

    UserError naming the variable when the value is not a number of seconds from 1 to 1e6.
    """
    value = environ.get(STOP_DEADLINE_SECONDS)
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        raise UserError(f"{STOP_DEADLINE_SECONDS}: {value!r} is not a number of seconds") from None
    if not 1 <= seconds <= 1e6:
        raise UserError(f"{STOP_DEADLINE_SECONDS}: {value!r} is out of range (1..1e6 seconds)")
    return seconds


def cache_dir(environ: Mapping[str, str], *, home: Path | None = None) -> Path:
    """mldock's cache folder on the developer's machine: `MLDOCK_CACHE_DIR` (`~` expanded), else ~/.cache/mldock.

    `home` stands for the user's home folder (default: Path.home(), read now).
    """
    value = environ.get(CACHE_DIR, "").strip()
    home_dir = Path.home() if home is None else home
    if not value:
        return home_dir / ".cache" / "mldock"
    if value == "~" or value.startswith("~/"):
        return home_dir / value[2:]
    return Path(value).expanduser()
