"""How an emulator's CPU per request grows as it fills: the limit on small-file transfers against it.

    .venv/bin/python benchmarks/emulator_growth.py                      # s3, gs, az: 5 batches of 1,000 x 4 KiB
    .venv/bin/python benchmarks/emulator_growth.py --clouds az --batches 3 --per-batch 500

Uploads batch after batch of 4 KiB files into one bucket of a fresh emulator with the plain sequential SDK loop
of benchmarks/transfer.py, and prints per batch the wall time, the client's CPU (os.times) and the emulator's
CPU (/proc/<pid>/stat) per file. A store that searches its objects linearly shows CPU per file rising with the
number of objects it holds; a parallel client cannot go faster than the emulator serves requests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from transfer import Shape, cpu_seconds, environ, make_tree, sequential


def grow(cloud: str, batches: int, per_batch: int, work: Path) -> None:
    from mldock.emulators import emulator_for

    tree = make_tree(work / cloud, Shape("small", per_batch, 4096))
    with emulator_for(cloud) as emulator, environ(emulator.env()):
        upload, _ = sequential(cloud)
        emulator.create_bucket("growth")
        for batch in range(batches):
            client, emulated = os.times(), cpu_seconds(emulator.pid)
            started = time.perf_counter()
            upload(tree, "growth", f"batch-{batch}")
            wall = time.perf_counter() - started
            after = os.times()
            client_cpu = after.user + after.system - client.user - client.system
            emulator_cpu = cpu_seconds(emulator.pid) - emulated
            print(
                f"{cloud:3} objects {batch * per_batch:6,}..{(batch + 1) * per_batch:6,}  per file: wall "
                f"{wall / per_batch * 1e3:6.2f} ms  client CPU {client_cpu / per_batch * 1e3:5.2f} ms  emulator CPU "
                f"{emulator_cpu / per_batch * 1e3:5.2f} ms",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clouds", default="s3,gs,az", help="comma-separated: s3,gs,az")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--per-batch", type=int, default=1000)
    args = parser.parse_args(argv)
    print(f"cores: {os.cpu_count()}; load: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mldock-growth-") as tmp:
        for cloud in (c.strip() for c in args.clouds.split(",") if c.strip()):
            grow(cloud, args.batches, args.per_batch, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
