"""Lifecycle benchmark: what mldock adds to running a container, in one run on one machine.

    DOCKER_HOST=unix:///run/mldock/podman.sock .venv/bin/python benchmarks/lifecycle.py --runs 7

Measures, with medians of `--runs` repetitions (after one warm-up each):

| row | what |
|---|---|
| bare docker run | docker-py `containers.run(image, ["train"], remove=True)` of the warm image: no mldock |
| docker lifecycle | `DockerRunner().run(spec)`, same image and command: cache check, logs, /opt/ml copy, removal |
| process lifecycle | `ProcessRunner().run(spec)`: the same entrypoint in a subprocess |
| cold build | `build_image(project, force=True)` (`--cold-runs`, default 1) |
| cache-hit check | `build_image(project)` on the unchanged project |

Targets (issue 14): docker lifecycle <= 1.1 x bare + 0.2 s; process lifecycle < 0.2 s; cache-hit check < 0.05 s.
benchmarks/testloop.py measures the same rows and what a test costs on top (the `mldock_container` call).
The project is trivial (a training step that returns at once, no channels, no requirements), so the figures
are mldock's overhead, not work. Timings vary +-30 % on shared machines: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TRAINER = "def train(env):\n    print('trained', flush=True)\n"


@dataclass
class Row:
    name: str
    times: list[float]
    target: float | None = None
    target_text: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.median <= self.target else "MISS"


def measure(fn: Callable[[], object], runs: int, *, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def make_project(root: Path, base_image: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mldock.json").write_text(json.dumps({"name": "bench-lifecycle", "base_image": base_image}))
    (root / "trainer.py").write_text(TRAINER)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="repetitions per row (median reported)")
    parser.add_argument("--cold-runs", type=int, default=1, help="forced rebuilds to time")
    parser.add_argument("--base-image", default=None, help="base image of the benchmark project")
    args = parser.parse_args(argv)

    from mldock.engine import connect
    from mldock.image import LOCAL_BASE_IMAGE, build_image
    from mldock.image import image_tag as image_for
    from mldock.project.config import load_project
    from mldock.runners import RunSpec
    from mldock.runners.docker import DockerRunner
    from mldock.runners.process import ProcessRunner

    client = connect()
    with tempfile.TemporaryDirectory(prefix="mldock-bench-") as tmp:
        project = load_project(make_project(Path(tmp) / "project", args.base_image or LOCAL_BASE_IMAGE))
        spec = RunSpec(project, project.stage("dev"))
        print(f"benchmark project {project.root}; building its image (untimed) ...", file=sys.stderr)
        tag = build_image(project, client=client).tag

        def bare() -> None:
            client.containers.run(tag, ["train"], remove=True)

        docker_runner = DockerRunner(client)

        def docker_lifecycle() -> None:
            result = docker_runner.run(spec)
            if not result.succeeded:
                raise SystemExit(f"docker lifecycle failed:\n{result.describe()}")
            docker_runner.cleanup()

        process_runner = ProcessRunner()

        def process_lifecycle() -> None:
            result = process_runner.run(spec)
            if not result.succeeded:
                raise SystemExit(f"process lifecycle failed:\n{result.describe()}")
            process_runner.cleanup()

        def cache_hit() -> None:
            if build_image(project, client=client).rebuilt:
                raise SystemExit("the cache-hit check rebuilt an unchanged project")

        def cold_build() -> None:
            build_image(project, client=client, force=True)

        print("timing bare docker run, docker lifecycle, process lifecycle, cache hit ...", file=sys.stderr)
        # interleave the two container rows so drift in machine load hits both alike
        bare_times: list[float] = []
        docker_times: list[float] = []
        bare(), docker_lifecycle()
        for _ in range(args.runs):
            bare_times += measure(bare, 1, warmup=0)
            docker_times += measure(docker_lifecycle, 1, warmup=0)
        if image_for(project) != tag:
            print(
                "warning: mldock's sources or the project changed during the benchmark, so docker lifecycles "
                "included rebuilds; run it on a quiet checkout",
                file=sys.stderr,
            )
        process_times = measure(process_lifecycle, args.runs)
        hit_times = measure(cache_hit, args.runs)
        print("timing cold build(s) ...", file=sys.stderr)
        cold_times = measure(cold_build, args.cold_runs, warmup=0)

    bare_row = Row("bare docker run (docker-py, no mldock)", bare_times)
    docker_target = 1.1 * bare_row.median + 0.2
    rows = [
        bare_row,
        Row("mldock docker lifecycle", docker_times, docker_target, f"<= 1.1 x bare + 0.2 s = {docker_target:.2f} s"),
        Row("mldock process lifecycle", process_times, 0.2, "< 0.2 s"),
        Row("cold build (force rebuild)", cold_times),
        Row("cache-hit check (unchanged project)", hit_times, 0.05, "< 0.05 s"),
    ]
    print(f"\nlifecycle benchmark: medians of {args.runs} runs (cold build: {args.cold_runs}), seconds\n")
    print(f"{'row':40} {'median':>8} {'min':>8} {'max':>8}  {'target':32} verdict")
    for row in rows:
        print(
            f"{row.name:40} {row.median:8.3f} {min(row.times):8.3f} {max(row.times):8.3f}  "
            f"{row.target_text:32} {row.verdict()}"
        )
    ratio = statistics.median(docker_times) / bare_row.median
    print(f"\ndocker lifecycle / bare run = {ratio:.2f}x (+{statistics.median(docker_times) - bare_row.median:.3f} s)")
    return 0 if all(row.verdict() in ("", "PASS") for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
