"""The background process behind `mldock emulators up`: owns the emulators until SIGTERM/SIGINT.

    python -m mldock.cli.emulator_daemon --state ~/.cache/mldock/emulators.json --host 127.0.0.1 \
        --port s3=9000 s3 gcs azure

Starts each emulator, then writes the state file (pid, endpoints, variables) through a temporary name, so
a reader never sees half of it; on SIGTERM stops the emulators and removes the state file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from mldock.emulators import emulator_for

__all__ = ["main"]


class _Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mldock-emulator-daemon")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", action="append", default=[], metavar="NAME=PORT", help="a fixed port")
    parser.add_argument("names", nargs="+", choices=["s3", "gcs", "azure"])
    args = parser.parse_args(argv)
    ports = {name: int(port) for name, _, port in (value.partition("=") for value in args.port)}
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    try:
        with ExitStack() as stack:
            state: dict[str, object] = {"pid": os.getpid(), "host": args.host, "emulators": {}}
            running: dict[str, object] = {}
            for name in args.names:
                emulator = emulator_for(name, host=args.host, port=ports.get(name, 0))
                stack.enter_context(emulator)
                running[name] = {"endpoint_url": emulator.endpoint_url, "env": dict(emulator.env())}
                print(f"{name} emulator at {emulator.endpoint_url}", flush=True)
            state["emulators"] = running
            stack.callback(args.state.unlink, missing_ok=True)
            _write_atomically(args.state, json.dumps(state, indent=2))
            while True:  # SIGTERM/SIGINT raise _Stop out of pause()
                signal.pause()
    except _Stop:
        print("stopping emulators", flush=True)
        return 0
    except Exception as exc:
        print(f"emulator daemon failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".emulators.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
