"""The container entrypoint: `mldock-entrypoint train|serve` (also `python -m mldock train|serve`).

    docker run IMAGE train        # environment → startup() → the training step → cleanup()  (mldock.runtime.train)
    docker run IMAGE serve        # startup() → HTTP server (/ping, /invocations) → cleanup() at SIGTERM  (.serve)

This module parses the arguments, sends the `mldock` logger to stderr (level `MLDOCK_LOG_LEVEL`, default INFO)
and runs the task. What the tasks share lives in mldock.runtime.lifecycle, discovery of the user's code in
mldock.runtime.loader, exit codes in mldock.runtime.failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from mldock import contract
from mldock.runtime import serve, train
from mldock.runtime.failure import EXIT_USER_ERROR

__all__ = ["TASKS", "console_main", "main"]

logger = logging.getLogger("mldock")

TASKS: dict[str, Callable[[Mapping[str, str]], int]] = {"train": train.run, "serve": serve.run}


def main(argv: list[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Run `train` or `serve` as `argv` asks and return the exit code; `environ` defaults to os.environ."""
    parser = argparse.ArgumentParser(prog="mldock-entrypoint", description="Run an mldock container task.")
    parser.add_argument("task", choices=list(TASKS), help="what the container does")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    source = dict(os.environ if environ is None else environ)
    with _logging(source):
        started = time.monotonic()
        code = TASKS[args.task](source)
        logger.info("%s: finished in %.2fs with exit code %d", args.task, time.monotonic() - started, code)
        return code


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
