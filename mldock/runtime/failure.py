"""How a failed run is described: exit codes, the failure file, and the step child's report to its parent.

Exit codes of `mldock-entrypoint` (runners rely on them):

| code      | meaning                                                                                    |
|-----------|--------------------------------------------------------------------------------------------|
| 0         | success                                                                                    |
| 1         | user code failed: the training step raised or crashed, or an @on_startup/@on_cleanup step |
|           | or the predictor raised something that is not a mldock error (OSError included)           |
| 2         | user error: bad variables, hyperparameters, stage, mldock.json, assets/step/handler not    |
|           | found, or a mldock UserError raised anywhere (also inside the step)                        |
| 3         | storage or platform error in startup or cleanup: any other mldock error (StorageError,     |
|           | LifecycleError: e.g. the base folders cannot be created, the step process cannot start)    |
| 128 + N   | terminated by signal N (143 for SIGTERM, 130 for SIGINT)                                   |

The failure file `<base>/output/failure` holds the reason on its first line (`ValueError: learning rate must
be positive`, at most 512 characters), then the phase and the details (traceback). It is written atomically,
with secrets redacted. SageMaker shows its first 1024 characters as the job's FailureReason: notes that must be
seen (uploads cut short by the stop deadline) go before the traceback.
"""

from __future__ import annotations

import json
import signal
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from mldock.errors import MldockError, UserError
from mldock.runtime.redact import redact_text
from mldock.storage.base import atomic_write

__all__ = [
    "EXIT_OK",
    "EXIT_PLATFORM_ERROR",
    "EXIT_STEP_FAILED",
    "EXIT_USER_ERROR",
    "Failure",
    "StepReport",
    "exit_code_for",
    "signal_exit_code",
    "write_failure",
]

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_PLATFORM_ERROR = 3
_MAX_REASON = 512


def signal_exit_code(signum: int) -> int:
    """The exit code after termination by `signum`: 128 + signum, as shells report it."""
    return 128 + signum


def exit_code_for(exc: BaseException) -> int:
    """The exit code an exception raised by the lifecycle maps to (see the module table)."""
    if isinstance(exc, UserError):
        return EXIT_USER_ERROR
    if isinstance(exc, MldockError):
        return EXIT_PLATFORM_ERROR
    return EXIT_STEP_FAILED


@dataclass(frozen=True)
class Failure:
    """One failure: a one-line reason, the phase it happened in, the exit code, and details.

    Failure.from_exception(exc, "startup").render()   # the failure file's text
    """

    reason: str
    phase: str
    exit_code: int
    details: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException, phase: str) -> Failure:
        """The failure for `exc` raised in `phase`, with its traceback as details.

        A plain UserError (no underlying cause) says everything in its message: no traceback.
        """
        plain_user_error = isinstance(exc, UserError) and exc.__cause__ is None
        return cls(
            reason=reason_line(type(exc).__name__, str(exc)),
            phase=phase,
            exit_code=exit_code_for(exc),
            details="" if plain_user_error else "".join(traceback.format_exception(exc)),
        )

    def with_note(self, note: str, *, first: bool = False) -> Failure:
        """A copy with `note` added to the details (e.g. a later failure in cleanup): after them, or `first`
        (before them, so it stays within the 1024 characters SageMaker shows)."""
        if not self.details:
            details = note
        elif first:
            details = f"{note}\n\n{self.details.rstrip()}"
        else:
            details = f"{self.details.rstrip()}\n\n{note}"
        return Failure(self.reason, self.phase, self.exit_code, details)

    def render(self) -> str:
        """The failure file's text: reason line, phase and exit code, details."""
        text = f"{self.reason}\nphase: {self.phase}\nexit code: {self.exit_code}\n"
        return f"{text}\n{self.details.rstrip()}\n" if self.details else text


def reason_line(type_name: str, message: str) -> str:
    """`Type: first line of message` (just `Type` for an empty message), on one line of at most 512 characters
    (SageMaker shows the first 1024 characters of the failure file: the reason, phase and exit code fit)."""
    first = message.strip().splitlines()[0].strip() if message.strip() else ""
    line = f"{type_name}: {first}" if first else type_name
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


def signal_reason(signum: int) -> str:
    """`terminated by SIGTERM`-style reason for a signal number."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"terminated by {name}"


def write_failure(path: Path, failure: Failure, environ: Mapping[str, str]) -> None:
    """Write `failure` to `path` atomically, masking the values of secret-named variables of `environ`."""
    with atomic_write(path) as handle:
        handle.write(redact_text(failure.render(), environ).encode("utf-8", "replace"))


@dataclass(frozen=True)
class StepReport:
    """What the step child tells its parent about an exception (written as JSON to a temp file).

    StepReport.from_exception(exc).write(path); StepReport.read(path)
    """

    type: str
    message: str
    traceback: str
    user_error: bool
    mldock_error: bool

    @classmethod
    def from_exception(cls, exc: BaseException) -> StepReport:
        """The report for `exc` raised by the step."""
        return cls(
            type=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
            user_error=isinstance(exc, UserError),
            mldock_error=isinstance(exc, MldockError),
        )

    def write(self, path: Path) -> None:
        """Write the report as JSON, atomically."""
        with atomic_write(path) as handle:
            handle.write(json.dumps(asdict(self)).encode("utf-8", "replace"))

    @classmethod
    def read(cls, path: Path) -> StepReport | None:
        """The report at `path`, or None when the child wrote none (or an unreadable one)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                type=str(data["type"]),
                message=str(data["message"]),
                traceback=str(data["traceback"]),
                user_error=bool(data["user_error"]),
                mldock_error=bool(data["mldock_error"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def to_failure(self, phase: str) -> Failure:
        """The failure for this report: exit 2 for a UserError, else 1 (the step failed)."""
        code = EXIT_USER_ERROR if self.user_error else EXIT_STEP_FAILED
        return Failure(reason_line(self.type, self.message), phase, code, self.traceback)
