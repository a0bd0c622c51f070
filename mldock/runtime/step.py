"""The training step's child process: `python -m mldock.runtime.step module:function --report FILE`.

The training task (mldock.runtime.train) starts it with the environment's variables (Environment.to_environ())
in a new session, so the signals it forwards reach the step and whatever the step starts. The child rebuilds
the Environment, imports the step, calls `function(env)` and, when that raises, writes a StepReport to FILE.

Exit codes: 0 success (also `sys.exit(0)` in the step), 1 the step raised, 2 a mldock UserError (including
a step that cannot be found).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mldock import contract
from mldock.errors import AssetsError
from mldock.runtime.environment import Environment
from mldock.runtime.failure import EXIT_OK, EXIT_STEP_FAILED, EXIT_USER_ERROR, StepReport
from mldock.runtime.loader import Target, add_to_sys_path, import_target

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the step named in `argv`; returns the exit code (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m mldock.runtime.step")
    parser.add_argument("target", help="module:function of the training step")
    parser.add_argument("--report", required=True, type=Path, help="file for the exception report")
    parser.add_argument("--environment-class", default="mldock.runtime.environment:Environment")
    args = parser.parse_args(argv)
    try:
        add_to_sys_path(contract.project_dir_from(os.environ))
        env_class = import_target(Target.parse(args.environment_class, "--environment-class"))
        if not (isinstance(env_class, type) and issubclass(env_class, Environment)):
            raise AssetsError(f"--environment-class: {args.environment_class} is not an Environment subclass")
        env = env_class.from_env()
        step = import_target(Target.parse(args.target, contract.TRAIN))
        step(env)
    except SystemExit as exc:
        if exc.code in (0, None):
            return EXIT_OK
        return _report(args.report, RuntimeError(f"the training step called sys.exit({exc.code!r})"))
    except BaseException as exc:
        return _report(args.report, exc)
    return EXIT_OK


def _report(path: Path, exc: BaseException) -> int:
    report = StepReport.from_exception(exc)
    try:
        report.write(path)
    except OSError as write_error:
        print(f"mldock: step: cannot write the report to {path}: {write_error}", file=sys.stderr)
    return EXIT_USER_ERROR if report.user_error else EXIT_STEP_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
