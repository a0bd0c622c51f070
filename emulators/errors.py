"""The error tree of the `emulators` package.

    EmulatorError
    ├── EmulatorNotInstalledError   the emulator's binary or package is missing (says how to install it)
    ├── EmulatorStartError          the emulator process/container exited or refused to start
    └── EmulatorTimeoutError        the emulator did not become healthy in time (carries its log tail)
"""

from __future__ import annotations

__all__ = ["EmulatorError", "EmulatorNotInstalledError", "EmulatorStartError", "EmulatorTimeoutError"]


class EmulatorError(Exception):
    """Base of every error the emulators raise."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message if not log_tail else f"{message}\n--- emulator log (tail) ---\n{log_tail}")
        self.log_tail = log_tail


class EmulatorNotInstalledError(EmulatorError):
    """The emulator cannot be found on this machine."""


class EmulatorStartError(EmulatorError):
    """The emulator exited or failed while starting."""


class EmulatorTimeoutError(EmulatorError):
    """The emulator did not answer its health check in time."""
