"""`mldock emulators up|down|env`: the storage emulators as a background process for manual work.

    $ mldock emulators up s3 gcs          # default: all three
    $ mldock emulators up --port s3=9000  # a fixed port (default: one the OS picks)
    $ eval "$(mldock emulators env)"      # AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST, AZURE_STORAGE_CONNECTION_STRING
    $ mldock emulators down

`up` starts a daemon (`python -m mldock.cli.emulator_daemon`) in its own session that owns the emulator
processes; it writes its pid and the emulators' endpoints and variables to the state file
`${MLDOCK_CACHE_DIR:-~/.cache/mldock}/emulators.json`. `down` stops the daemon (which stops the emulators).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from mldock.cli.common import emit_json, json_option, out
from mldock.contract import cache_dir
from mldock.errors import ToolingError, UserError

__all__ = ["EMULATOR_NAMES", "emulators_group", "parse_ports", "read_state", "state_file"]

EMULATOR_NAMES = ("s3", "gcs", "azure")
_START_TIMEOUT = 120.0
_STOP_TIMEOUT = 20.0


def state_file() -> Path:
    """Where `up` records the running emulators."""
    return cache_dir(os.environ) / "emulators.json"


def read_state() -> dict[str, Any] | None:
    """The recorded state when its daemon still runs; a stale file (daemon gone) is removed."""
    path = state_file()
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not _alive(int(state.get("pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return state


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


@click.group("emulators")
def emulators_group() -> None:
    """Start, inspect and stop local storage emulators (S3, GCS, Azure Blob) for manual work."""


@emulators_group.command("up")
@click.argument("names", nargs=-1, type=click.Choice(EMULATOR_NAMES))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0 for containers).")
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME=PORT",
    help="A fixed port for one emulator, e.g. s3=9000 (repeatable; default: a free port).",
)
@json_option
def up_command(names: tuple[str, ...], host: str, ports: tuple[str, ...], as_json: bool) -> None:
    """Start emulators in the background (default: s3 gcs azure) and print the variables to export."""
    chosen = list(dict.fromkeys(names)) or list(EMULATOR_NAMES)
    fixed = parse_ports(ports, chosen)
    existing = read_state()
    if existing is not None:
        raise UserError(
            f"emulators already run (pid {existing['pid']}: {', '.join(existing['emulators'])}); "
            "stop them first with `mldock emulators down`"
        )
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    log_path = path.with_suffix(".log")
    port_args = [arg for name, port in fixed.items() for arg in ("--port", f"{name}={port}")]
    argv = [
        sys.executable, "-m", "mldock.cli.emulator_daemon", "--state", str(path), "--host", host, *port_args, *chosen
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + _START_TIMEOUT
    while not path.exists():
        if daemon.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise ToolingError(f"the emulators did not start (exit code {daemon.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            daemon.terminate()
            raise ToolingError(f"the emulators did not start within {_START_TIMEOUT:.0f}s; see {log_path}")
        time.sleep(0.1)
    state = read_state()
    if state is None:
        raise ToolingError(f"the emulator daemon exited right after starting; see {log_path}")
    _print_env(state, as_json, header=True)


@emulators_group.command("env")
@json_option
def env_command(as_json: bool) -> None:
    """Print `export` lines for the running emulators (eval "$(mldock emulators env)")."""
    state = read_state()
    if state is None:
        raise UserError("no emulators are running; start them with `mldock emulators up`")
    _print_env(state, as_json, header=False)


@emulators_group.command("down")
@json_option
def down_command(as_json: bool) -> None:
    """Stop the emulators started by `mldock emulators up` (nothing to do when none run)."""
    state = read_state()
    if state is None:
        if as_json:
            emit_json({"stopped": False, "emulators": []})
        else:
            out().print("no emulators were running")
        return
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    while _alive(pid):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    state_file().unlink(missing_ok=True)
    names = list(state["emulators"])
    if as_json:
        emit_json({"stopped": True, "emulators": names, "pid": pid})
    else:
        out().print(f"stopped {', '.join(names)} (pid {pid})")


def parse_ports(values: tuple[str, ...] | list[str], names: list[str]) -> dict[str, int]:
    """`NAME=PORT` values -> {name: port}; UserError naming the bad value (unknown or unstarted emulator,
    not a port, given twice)."""
    ports: dict[str, int] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or name not in EMULATOR_NAMES or not text.isdigit() or not 0 < int(text) < 65536:
            raise UserError(
                f"--port {value!r}: expected NAME=PORT with NAME one of {', '.join(EMULATOR_NAMES)} "
                "and PORT 1-65535, e.g. --port s3=9000"
            )
        if name not in names:
            raise UserError(f"--port {value!r}: the {name} emulator is not among those started ({', '.join(names)})")
        if name in ports:
            raise UserError(f"--port {value!r}: a port for {name} is given twice")
        ports[name] = int(text)
    return ports


def _print_env(state: dict[str, Any], as_json: bool, *, header: bool) -> None:
    variables: dict[str, str] = {}
    for info in state["emulators"].values():
        variables.update(info["env"])
    if as_json:
        emit_json({"pid": state["pid"], "emulators": state["emulators"], "env": variables})
        return
    lines = []
    if header:
        started = ", ".join(f"{name} at {info['endpoint_url']}" for name, info in state["emulators"].items())
        lines.append(f"# started {started} (pid {state['pid']}); stop with: mldock emulators down")
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(variables.items())]
    click.echo("\n".join(lines))
