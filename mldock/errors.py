"""The one error tree of the `mldock` package.

    MldockError
    ├── UserError                 bad input from the user: config, variables, arguments (exit code 2)
    │   ├── ChannelError          a channel variable that cannot be used
    │   ├── HyperparameterError   hyperparameters that are not a JSON object, or a bad typed read
    │   ├── StageError            a stage name that cannot be used
    │   ├── ConfigError           a bad `mldock.json` (names the field path)
    │   └── InvalidURIError       a storage URI that cannot be used (names the URI and what is wrong)
    ├── StorageError              a transfer failed (names the URI)
    │   ├── RemoteNotFoundError   missing bucket/container/prefix
    │   └── UnsafeKeyError        an object key that would land outside its channel folder
    ├── LifecycleError            startup/cleanup/step problems inside the container
    │   └── AssetsError           `assets.py`, the training step or the serving handler cannot be loaded
    └── ToolingError              the developer-machine half
        ├── EngineError           the Docker Engine API is unreachable or failed
        ├── BuildError            an image build failed (carries the failing step's output)
        ├── RunnerError           a run could not be carried out (timeout, serve never healthy)
        └── EmulatorError         a storage emulator failed (carries the tail of its log)
            ├── EmulatorNotInstalledError   its binary or package is missing (says how to install it)
            ├── EmulatorStartError          its process/container exited or refused to start
            └── EmulatorTimeoutError        it did not become healthy in time

Third-party exceptions (botocore, google-api-core, azure-core, docker) are translated into this tree at the
storage and engine boundaries with `raise ... from exc`. Messages say what happened, where, and what to do.
"""

from __future__ import annotations

__all__ = [
    "AssetsError",
    "BuildError",
    "ChannelError",
    "ConfigError",
    "EmulatorError",
    "EmulatorNotInstalledError",
    "EmulatorStartError",
    "EmulatorTimeoutError",
    "EngineError",
    "HyperparameterError",
    "InvalidURIError",
    "LifecycleError",
    "MldockError",
    "RemoteNotFoundError",
    "RunnerError",
    "StageError",
    "StorageError",
    "ToolingError",
    "UnsafeKeyError",
    "UserError",
]


class MldockError(Exception):
    """Base of every error mldock raises on purpose."""


class UserError(MldockError):
    """The user gave input mldock cannot use; the message says which and what to do."""


class ChannelError(UserError):
    """A channel variable is malformed, unsupported or collides with another."""


class HyperparameterError(UserError):
    """Hyperparameters are not a JSON object, or a typed read failed."""


class StageError(UserError):
    """A stage name is empty or not usable."""


class ConfigError(UserError):
    """`mldock.json` is missing or invalid."""


class InvalidURIError(UserError):
    """A storage URI is malformed or has an unsupported scheme; the message names the URI."""


class StorageError(MldockError):
    """A transfer to or from blob storage failed."""


class RemoteNotFoundError(StorageError):
    """A bucket, container or prefix does not exist."""


class UnsafeKeyError(StorageError):
    """An object key would be written outside its channel folder."""


class LifecycleError(MldockError):
    """The container lifecycle (startup, step, cleanup) could not run as asked."""


class AssetsError(LifecycleError, UserError):
    """The project's assets, step or handler cannot be loaded."""


class ToolingError(MldockError):
    """A developer-machine operation failed."""


class EngineError(ToolingError):
    """The container engine is unreachable or refused an operation."""


class BuildError(ToolingError):
    """An image build failed."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message if not log_tail else f"{message}\n--- build output (tail) ---\n{log_tail}")
        self.log_tail = log_tail


class RunnerError(ToolingError):
    """A container or process run could not be carried out."""


class EmulatorError(ToolingError):
    """A storage emulator failed; `log_tail` holds the end of its own log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message if not log_tail else f"{message}\n--- emulator log (tail) ---\n{log_tail}")
        self.log_tail = log_tail


class EmulatorNotInstalledError(EmulatorError):
    """The emulator cannot be found on this machine."""


class EmulatorStartError(EmulatorError):
    """The emulator exited or failed while starting."""


class EmulatorTimeoutError(EmulatorError):
    """The emulator did not answer its health check in time."""
