"""The container entrypoint: `mldock-entrypoint [train|serve] [ARGUMENT ...]` (also `python -m mldock ...`).

    docker run IMAGE train        # environment → startup() → the training step → cleanup()  (mldock.runtime.train)
    docker run IMAGE serve        # startup() → HTTP server (/ping, /invocations) → cleanup() at SIGTERM  (.serve)
    docker run IMAGE              # no task: decided from the platform's variables (Vertex AI prediction and
                                  # Azure ML online deployments serve, everything else trains)
    docker run IMAGE --learning_rate=0.1 --layers 3          # Vertex AI tuning: hyperparameters as arguments
    docker run IMAGE train --input-channel train=/mnt/in --output-channel model=/mnt/out   # Azure ML command job

This module parses the arguments (the grammar and the no-task rule: mldock.runtime.arguments), sends the
`mldock` logger to stderr (level `MLDOCK_LOG_LEVEL`, default INFO) and runs the task with the arguments turned
into the contract's variables (a copy of the environment: nothing is written to os.environ). A bad argument is
a user error: exit 2 with the failure file written. What the tasks share lives in mldock.runtime.lifecycle,
discovery of the user's code in mldock.runtime.loader, exit codes in mldock.runtime.failure.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mldock import contract
from mldock.errors import UserError
from mldock.runtime.arguments import parse_arguments
from mldock.runtime.failure import EXIT_OK, Failure
from mldock.runtime.lifecycle import report_failure

__all__ = ["TASKS", "console_main", "main"]

logger = logging.getLogger("mldock")


def _train(environ: Mapping[str, str]) -> int:
    # imported here, not at the top: a task loads only its own modules (training never loads the HTTP server,
    # serving never loads the step's process handling), which shortens every start of the container
    from mldock.runtime import train

    return train.run(environ)


def _serve(environ: Mapping[str, str]) -> int:
    from mldock.runtime import serve  # see _train

    return serve.run(environ)


TASKS: dict[str, Callable[[Mapping[str, str]], int]] = {"train": _train, "serve": _serve}


def main(argv: list[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run the task `argv` asks for (or the no-task rule picks) and return the exit code.

    `argv` defaults to sys.argv[1:], `environ` to os.environ.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    source = dict(os.environ if environ is None else environ)
    with _logging(source):
        if "-h" in arguments or "--help" in arguments:
            print(_USAGE, file=sys.stdout)
            return EXIT_OK
        try:
            invocation = parse_arguments(arguments, source)
            task_environ = invocation.environ(source)
        except UserError as exc:
            failure = Failure.from_exception(exc, "arguments")
            return report_failure(failure, _failure_file(source), source)
        if not arguments or arguments[0] not in TASKS:
            logger.info("task: %s (%s)", invocation.task, invocation.reason)
        started = time.monotonic()
        code = TASKS[invocation.task](task_environ)
        logger.info("%s: finished in %.2fs with exit code %d", invocation.task, time.monotonic() - started, code)
        return code


_USAGE = """usage: mldock-entrypoint [train|serve] [--NAME=VALUE ...] [--input-channel NAME=LOCATION ...]
                         [--output-channel NAME=LOCATION ...] [--input-model-channel NAME=LOCATION ...]
                         [--output-model-channel NAME=LOCATION ...]

Run an mldock container task. Without train or serve the task comes from the platform's variables
(MLDOCK_TASK; Vertex AI prediction or AZUREML_MODEL_DIR: serve; otherwise train). --NAME=VALUE arguments are
hyperparameters; LOCATION is an absolute path (a file:// channel) or a storage URI."""


def _failure_file(environ: Mapping[str, str]) -> Path:
    try:
        return contract.base_dir_from(environ) / contract.FAILURE_FILE
    except UserError:
        return contract.DEFAULT_BASE_DIR / contract.FAILURE_FILE


def console_main() -> None:
    """The `mldock-entrypoint` console script."""
    raise SystemExit(main())


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"mldock: {level}{message}"


@contextmanager
def _logging(environ: Mapping[str, str]) -> Iterator[None]:
    """Send the `mldock` logger to stderr with the `mldock:` prefix while the block runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    level = environ.get(contract.LOG_LEVEL, "INFO").upper()
    previous = (logger.level, logger.propagate)
    logger.addHandler(handler)
    resolved = logging.getLevelName(level)
    logger.setLevel(resolved if isinstance(resolved, int) else logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


if __name__ == "__main__":
    console_main()
