"""Install the pinned Azurite into the project-local cache (where `emulators.azure.find_azurite` looks).

    python -m mldock.emulators.install_azurite          # npm install --prefix ~/.cache/mldock/azurite-3.35.0 ...

Idempotent: nothing happens when the pinned version is already there (`--force` reinstalls).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mldock.emulators.azure import AZURITE_VERSION, azurite_prefix
from mldock.errors import EmulatorNotInstalledError

__all__ = ["install_azurite", "main"]


def install_azurite(prefix: Path | None = None, *, version: str = AZURITE_VERSION, force: bool = False) -> Path:
    """`npm install --prefix PREFIX azurite@VERSION` unless already there; returns the azurite-blob path."""
    prefix = prefix or azurite_prefix(version=version)
    binary = prefix / "node_modules" / ".bin" / "azurite-blob"
    if binary.is_file() and not force:
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise EmulatorNotInstalledError("npm not found: install Node.js (>= 18, < 21 for Azurite 3.35) first")
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", f"azurite@{version}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not binary.is_file():
        raise EmulatorNotInstalledError(
            f"{' '.join(command)} failed (exit {result.returncode})", log_tail=(result.stdout + result.stderr)[-4000:]
        )
    return binary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mldock.emulators.install_azurite", description=__doc__)
    parser.add_argument("--prefix", type=Path, help="npm prefix (default: the project-local cache folder)")
    parser.add_argument("--force", action="store_true", help="reinstall even if present")
    args = parser.parse_args(argv)
    try:
        binary = install_azurite(args.prefix, force=args.force)
    except EmulatorNotInstalledError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
