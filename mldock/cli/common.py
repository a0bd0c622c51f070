"""What the commands share: the --project/--stage/--json options, `key=value` arguments, output helpers.

@click.command()
@project_option
@json_option
def build(project: str, as_json: bool) -> None:
    config = load(project)
    emit_json({"tag": ...}) if as_json else out().print(...)
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mldock.contract import DEFAULT_STAGE, PREFIX
from mldock.errors import MldockError, UserError
from mldock.project import load_project
from mldock.runners.host_environment import check_pass_env, is_sdk_variable

if TYPE_CHECKING:
    from rich.console import Console

    from mldock.project.config import ProjectConfig

__all__ = [
    "emit_json",
    "err",
    "json_errors",
    "json_option",
    "load",
    "out",
    "parse_environment",
    "parse_hyperparameters",
    "parse_pass_env",
    "parse_seeds",
    "project_option",
    "runner_option",
    "stage_option",
]

F = TypeVar("F", bound=Callable[..., Any])

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def project_option(func: F) -> F:
    return click.option(
        "--project",
        default=".",
        show_default=True,
        metavar="DIR",
        help="The container project: a folder with mldock.json (or the file itself).",
    )(func)


def stage_option(func: F) -> F:
    return click.option(
        "--stage",
        "-s",
        default=DEFAULT_STAGE,
        show_default=True,
        metavar="STAGE",
        help="The stage of mldock.json to use.",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one machine-readable JSON object on stdout instead of text."
    )(func)


def runner_option(func: F) -> F:
    return click.option(
        "--runner",
        type=click.Choice(["docker", "process"]),
        default="docker",
        show_default=True,
        help="docker: the project's image on the engine; process: the entrypoint in a local subprocess (fast).",
    )(func)


def load(project: str) -> ProjectConfig:
    """The project at `project` (ConfigError, a user error, when missing or invalid)."""

    return load_project(Path(project))


def out() -> Console:
    """The console for results (stdout)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def err() -> Console:
    """The console for progress and logs (stderr), so stdout stays clean for --json."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """Print `data` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def json_errors(as_json: bool) -> Iterator[None]:
    """With --json, an error still prints one JSON object on stdout (`ok: false`, the message, the exit code the
    command ends with) before it propagates to the usual plain message on stderr."""
    try:
        yield
    except (MldockError, click.ClickException) as exc:
        if as_json:
            if isinstance(exc, click.ClickException):
                code, message = exc.exit_code, exc.format_message()
            else:
                code, message = (2 if isinstance(exc, UserError) else 1), str(exc)
            emit_json({"ok": False, "error": message, "error_type": type(exc).__name__, "exit_code": code})
        raise


def _split(value: str, option: str, form: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{value!r} is not of the form {form}", param_hint=f"'{option}'")
    return key.strip(), rest


def parse_hyperparameters(values: Iterable[str], option: str = "-p") -> dict[str, Any]:
    """`key=value` pairs; a value that parses as JSON is used as JSON (`3`, `0.1`, `true`, `[1,2]`), else as text."""
    parsed: dict[str, Any] = {}
    for value in values:
        key, raw = _split(value, option, "key=value")
        try:
            parsed[key] = json.loads(raw)
        except ValueError:
            parsed[key] = raw
    return parsed


def parse_environment(values: Iterable[str], option: str = "-e") -> dict[str, str]:
    """`KEY=VALUE` pairs; keys get the MLDOCK_ prefix when they lack it (as in mldock.json), except a cloud SDK's
    own variables (AWS_*, AZURE_*, GOOGLE_*, STORAGE_EMULATOR_HOST, proxies, CA bundles: see
    mldock.runners.host_environment), which pass as they are: `-e AWS_REGION=eu-west-1` sets AWS_REGION."""
    parsed: dict[str, str] = {}
    for value in values:
        key, raw = _split(value, option, "KEY=VALUE")
        if not _ENV_KEY.fullmatch(key):
            raise click.BadParameter(
                f"{key!r} is not a variable name (letters, digits and '_', not starting with a digit)",
                param_hint=f"'{option}'",
            )
        parsed[key if key.startswith(PREFIX) or is_sdk_variable(key) else PREFIX + key] = raw
    return parsed


def parse_pass_env(values: Iterable[str], option: str = "--pass-env") -> tuple[str, ...]:
    """Host variable names (or `PREFIX*`) the task gets besides the SDKs' own; BadParameter naming a bad one."""
    try:
        return check_pass_env(list(values), option)
    except UserError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"{option}: "), param_hint=f"'{option}'") from None


def parse_seeds(values: Iterable[str], option: str = "--seed") -> dict[str, Path]:
    """`CHANNEL=DIR` pairs: local folders to upload to an input channel before the task starts."""
    parsed: dict[str, Path] = {}
    for value in values:
        channel, folder = _split(value, option, "CHANNEL=DIR")
        if not _CHANNEL.fullmatch(channel):
            raise click.BadParameter(
                f"{channel!r} is not a channel name (lower-case letters, digits, '_', '.', '-')",
                param_hint=f"'{option}'",
            )
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise click.BadParameter(f"{folder!r} is not a folder", param_hint=f"'{option}'")
        parsed[channel] = path.resolve()
    return parsed
