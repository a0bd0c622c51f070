"""The `mldock` command group and the one place where errors become messages and exit codes.

    $ mldock --help
    $ mldock --debug run train --stage dev      # a traceback for any error (also MLDOCK_DEBUG=1)

Exit codes: 0 success; 1 an operation failed (engine, build, storage, emulator); 2 a user mistake (bad
arguments, a bad mldock.json, a missing file); 70 an internal error (a bug: please report it);
130 interrupted (Ctrl-C). `mldock run` exits with the task's own exit code.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import click

from mldock.cli.build import base_image_command, build_command
from mldock.cli.clean import clean_command
from mldock.cli.contract import contract_command
from mldock.cli.emulators import emulators_group
from mldock.cli.init import init_command
from mldock.cli.metrics import metrics_command
from mldock.cli.push import push_command
from mldock.cli.run import run_group
from mldock.cli.serve import predict_command, serve_command
from mldock.cli.submit import logs_command, status_command, submit_command
from mldock.contract import is_truthy
from mldock.errors import EmulatorError, MldockError, UserError

__all__ = ["EXIT_FAILURE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_USAGE", "cli", "main"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130



@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="mldock", prog_name="mldock")
@click.option("--debug", is_flag=True, help="Show the full traceback of any error (or set MLDOCK_DEBUG=1).")
def cli(debug: bool) -> None:
    """mldock: build ML training and serving containers locally, test them against emulated cloud storage,
    deploy the same image everywhere.

    \b
    Typical session:
      mldock init my-project --template gcp
      cd my-project && mldock run train --stage dev
      mldock serve --stage dev &  mldock predict --payload payload.json
    """


cli.add_command(init_command)
cli.add_command(build_command)
cli.add_command(base_image_command)
cli.add_command(run_group)
cli.add_command(serve_command)
cli.add_command(predict_command)
cli.add_command(emulators_group)
cli.add_command(push_command)
cli.add_command(clean_command)
cli.add_command(contract_command)
cli.add_command(submit_command)
cli.add_command(status_command)
cli.add_command(logs_command)
cli.add_command(metrics_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        result = cli.main(args=args, prog_name="mldock", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("mldock: interrupted", err=True)
        return EXIT_INTERRUPTED
    except UserError as exc:
        return _report(exc, EXIT_USAGE, debug)
    except MldockError as exc:
        return _report(exc, EXIT_FAILURE, debug)
    except Exception as exc:
        return _report_other(exc, debug)
    return result if isinstance(result, int) else 0


def _report(exc: BaseException, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"mldock: error: {exc}", err=True)
    for note in getattr(exc, "__notes__", ()):
        click.echo(note, err=True)
    return code


def _report_other(exc: Exception, debug: bool) -> int:
    """Errors from outside mldock's tree: emulator and OS errors are operational, the rest are bugs."""

    if isinstance(exc, EmulatorError | OSError):
        return _report(exc, EXIT_FAILURE, debug)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    click.echo(
        f"mldock: internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in mldock; rerun with --debug for the traceback and report it.",
        err=True,
    )
    return EXIT_INTERNAL


def _debug_requested(args: Sequence[str]) -> bool:
    before_separator = args[: args.index("--")] if "--" in args else args
    return "--debug" in before_separator or is_truthy(os.environ.get("MLDOCK_DEBUG"))


if __name__ == "__main__":
    sys.exit(main())
