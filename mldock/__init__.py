"""mldock: build local, deploy everywhere.

    from mldock import Environment, TrainingContainer, on_startup

The names below are the container runtime's public API; importing them needs only the standard library.
"""

from mldock.errors import (
    AssetsError,
    BuildError,
    ChannelError,
    ConfigError,
    EmulatorError,
    EmulatorNotInstalledError,
    EmulatorStartError,
    EmulatorTimeoutError,
    EngineError,
    HyperparameterError,
    InvalidURIError,
    LifecycleError,
    MldockError,
    RemoteNotFoundError,
    RunnerError,
    StageError,
    StorageError,
    ToolingError,
    UnsafeKeyError,
    UserError,
)
from mldock.runtime.channels import Channel, ChannelKind
from mldock.runtime.containers import ServingContainer, TrainingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.hyperparameters import Hyperparameters
from mldock.runtime.instances import InstancesPredictor, parse_instances, predictions_response
from mldock.runtime.stages import on_cleanup, on_startup

__all__ = [
    "AssetsError",
    "BuildError",
    "Channel",
    "ChannelError",
    "ChannelKind",
    "ConfigError",
    "EmulatorError",
    "EmulatorNotInstalledError",
    "EmulatorStartError",
    "EmulatorTimeoutError",
    "EngineError",
    "Environment",
    "HyperparameterError",
    "Hyperparameters",
    "InstancesPredictor",
    "InvalidURIError",
    "LifecycleError",
    "MldockError",
    "RemoteNotFoundError",
    "RunnerError",
    "ServingContainer",
    "StageError",
    "StorageError",
    "ToolingError",
    "TrainingContainer",
    "UnsafeKeyError",
    "UserError",
    "on_cleanup",
    "on_startup",
    "parse_instances",
    "predictions_response",
]
