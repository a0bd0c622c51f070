"""Test-loop benchmark: how long a developer waits for a container project's tests, and what of it is mldock's.

    DOCKER_HOST=unix:///run/mldock/podman.sock .venv/bin/python benchmarks/testloop.py --runs 7
    .venv/bin/python benchmarks/testloop.py --no-docker --templates generic,aws,gcp,azure

Measured in one run on one machine (medians of `--runs` repetitions after a warm-up; suites: `--suite-runs`):

- template suite: `mldock init DIR --template T` (`--templates`, default gcp), then the project's own tests
  (`python -m pytest`, a subprocess) with the process runner and with the docker runner (image built first,
  untimed): wall time of the suite.
- process lifecycle: `ProcessRunner().run(spec)` of a trivial project (a step that returns at once, no channels).
- bare docker run / docker lifecycle: docker-py `containers.run(image, ["train"])` of the warm image against
  `DockerRunner().run(spec)` of the same image, interleaved.
- mldock cost per call: a generated pytest file whose tests each call `mldock_container("train")` (process runner)
  on a project whose step does nothing; per test: setup + call + teardown, less the step's own work (the step
  times itself and prints it). The first test (the session's set-up) is left out.
- ... with channels: the same on the gcp template's stage (a seeded input and two outputs, fresh emulated buckets
  per test), the trainer replaced by one that does nothing: adds the buckets, the transfers and the cloud SDK's
  import in the task.
- where one call's time goes: interpreter start, the entrypoint's imports, the step process, the runner, the
  plugin, storage set-up and tear-down, the cloud SDK's import (each timed on its own).
- unchanged-project check: `build_image(project)` in-process when the engine has the content-hash tag ("is the
  image up to date?"), `mldock build` as a command, and `plan_build` (the hashing alone) of the gcp template
  with a `--big-file-mib` data file added (the first hashing reads it; later checks should not).

Targets (issue 14): process lifecycle < 0.2 s; docker lifecycle <= 1.1 x bare docker run + 0.2 s; mldock's own
cost per `mldock_container` call <= 0.15 s; unchanged-project check < 0.05 s. Figures vary +-30 % on shared
machines: compare within one run.

Byte code: with `--bytecode cached` (default) the child interpreters may cache compiled modules (in a folder of
mldock's cache via PYTHONPYCACHEPREFIX when PYTHONDONTWRITEBYTECODE is set), as an installed package and a
developer's checkout have them; `--bytecode as-is` keeps the caller's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lifecycle import measure  # benchmarks/lifecycle.py: the timing loop

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = ("generic", "aws", "gcp", "azure")

NOOP_TRAINER = """\
import time


def train(env):
    started = time.perf_counter()
    print(f"testloop-step-work={time.perf_counter() - started:.6f}", flush=True)
"""

CALL_TESTS = """\
import json
import os
import re
import resource
import time

import pytest

RECORD = os.environ["TESTLOOP_RECORD"]


def cpu():
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


@pytest.mark.parametrize("n", range({calls}))
def test_call(n, mldock_container):
    started, cpu_started = time.perf_counter(), cpu()
    result = mldock_container("train")
    call, call_cpu = time.perf_counter() - started, cpu() - cpu_started
    result.assert_succeeded()
    work = float(re.search(r"testloop-step-work=([0-9.]+)", result.logs).group(1))
    with open(RECORD, "a") as out:
        out.write(json.dumps({{"n": n, "call": call, "cpu": call_cpu, "work": work}}) + "\\n")
"""

CALL_CONFTEST = """\
import json
import os
import time

import pytest

RECORD = os.environ["TESTLOOP_RECORD"]


def _phase(item, phase, seconds):
    with open(RECORD, "a") as out:
        out.write(json.dumps({"test": item.nodeid, "phase": phase, "seconds": seconds}) + "\\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    started = time.perf_counter()
    yield
    _phase(item, "setup", time.perf_counter() - started)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    started = time.perf_counter()
    yield
    _phase(item, "teardown", time.perf_counter() - started)
"""


@dataclass
class Figure:
    """One line of the table: a measured value (s), with its target when issue 14 sets one."""

    name: str
    seconds: float
    target: float | None = None
    target_text: str = ""
    note: str = ""
    cpu: float | None = None
    """CPU seconds (user + system, this process and its children) of the same thing: less moved by the load."""
    least: float | None = None
    """The fastest repetition: the closest to the figure of a machine with nothing else running."""

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.seconds <= self.target else "MISS"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children waited for (their children included)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


# -- the child interpreters' environment ---------------------------------------------------------------------


def child_environment(mode: str) -> dict[str, str]:
    """The environment for every interpreter the benchmark starts (see --bytecode)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLDOCK_")}
    if mode == "cached" and env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        from mldock.image.wheelhouse import cache_dir

        env["PYTHONPYCACHEPREFIX"] = str(cache_dir() / "benchmarks" / "pycache")
    return env


def timed_run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], check: bool = True) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd} (exit {done.returncode}):\n{done.stdout.decode()[-3000:]}")
    return elapsed


def mldock_cli(*args: str, cwd: Path, env: Mapping[str, str]) -> float:
    return timed_run([str(Path(sys.executable).parent / "mldock"), *args], cwd=cwd, env=env)


# -- projects ------------------------------------------------------------------------------------------------


def init_template(root: Path, template: str, base_image: str, env: Mapping[str, str]) -> Path:
    folder = root / f"template-{template}"
    mldock_cli("init", str(folder), "--template", template, "--base-image", base_image, cwd=root, env=env)
    return folder


def trivial_project(root: Path, base_image: str, *, channels_from: Path | None = None, calls: int = 0) -> Path:
    """A project whose step does nothing; with `channels_from`, that project's stages (and seed data)."""
    root.mkdir(parents=True)
    config: dict[str, object] = {"name": root.name, "base_image": base_image, "stages": {"dev": {}, "test": {}}}
    if channels_from is not None:
        original = json.loads((channels_from / "mldock.json").read_text())
        config["stages"] = original["stages"]
        shutil.copytree(channels_from / "data", root / "data")
    (root / "mldock.json").write_text(json.dumps(config, indent=2))
    (root / "trainer.py").write_text(NOOP_TRAINER)
    if calls:
        (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\nmldock_stage = test\n")
        (root / "tests").mkdir()
        (root / "tests" / "conftest.py").write_text(CALL_CONFTEST)
        (root / "tests" / "test_calls.py").write_text(CALL_TESTS.format(calls=calls))
    return root


# -- measurements --------------------------------------------------------------------------------------------


@dataclass
class CallCost:
    setup: float
    call: float
    teardown: float
    work: float
    cpu: float = 0.0
    """CPU seconds of the call: the test process and the task's processes."""

    @property
    def own(self) -> float:
        """What mldock adds to the step: the test's setup, call and teardown less the step's own work."""
        return self.setup + self.call + self.teardown - self.work


def per_call_cost(project: Path, env: Mapping[str, str], runs: int) -> tuple[CallCost, float, float]:
    """Medians over the tests of a generated suite (the first, which starts emulators, left out), and the
    median and the least of each test's own cost."""
    record = project / "record.jsonl"
    record.unlink(missing_ok=True)
    timed_run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0", "--mldock-runner=process"],
        cwd=project,
        env={**env, "TESTLOOP_RECORD": str(record)},
    )
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    calls = {f"tests/test_calls.py::test_call[{row['n']}]": row for row in lines if "call" in row}
    phases: dict[tuple[str, str], float] = {
        (row["test"], row["phase"]): row["seconds"] for row in lines if "phase" in row
    }
    costs = [
        CallCost(phases[(test, "setup")], row["call"], phases[(test, "teardown")], row["work"], row["cpu"])
        for test, row in calls.items()
        if row["n"] > 0
    ]
    if len(costs) < runs:
        raise SystemExit(f"expected {runs} timed calls in {project}, found {len(costs)}")
    summary = CallCost(
        median([c.setup for c in costs]),
        median([c.call for c in costs]),
        median([c.teardown for c in costs]),
        median([c.work for c in costs]),
        median([c.cpu for c in costs]),
    )
    return summary, median([c.own for c in costs]), min(c.own for c in costs)


def piece_times(
    project: Path, env: Mapping[str, str], runs: int, sdk_module: str, lifecycle: Callable[[], object]
) -> dict[str, tuple[float, float]]:
    """Medians (wall, CPU) of the pieces of one training task, timed round-robin (one of each per round, after a warm-up
    round) so that changes in the machine's load hit every piece alike."""
    python = sys.executable
    base = Path(tempfile.mkdtemp(prefix="testloop-base-"))
    task_env = {**env, "MLDOCK_BASE_DIR": str(base), "MLDOCK_PROJECT_DIR": str(project)}
    report = base / "report.json"

    def run(*argv: str) -> Callable[[], object]:
        return lambda: timed_run([python, *argv], cwd=project, env=task_env)

    pieces: dict[str, Callable[[], object]] = {
        "interpreter": run("-c", "pass"),
        "entrypoint imports": run("-c", "import mldock.runtime.entrypoint"),
        "step process": run("-m", "mldock.runtime.step", "trainer:train", "--report", str(report)),
        "entrypoint train": run("-m", "mldock.runtime.entrypoint", "train"),
        "process lifecycle": lifecycle,
        "sdk import": run("-c", f"import {sdk_module}"),
    }
    times: dict[str, list[float]] = {name: [] for name in pieces}
    cpus: dict[str, list[float]] = {name: [] for name in pieces}
    for round_number in range(runs + 1):
        for name, piece in pieces.items():
            cpu_started = cpu_seconds()
            elapsed = measure(piece, 1, warmup=0)[0]
            if round_number:
                times[name].append(elapsed)
                cpus[name].append(cpu_seconds() - cpu_started)
    shutil.rmtree(base, ignore_errors=True)
    return {name: (median(times[name]), median(cpus[name])) for name in pieces}


def suite_time(project: Path, env: Mapping[str, str], runner: str, runs: int) -> tuple[float, int]:
    """Median wall time of the project's own tests under `runner`, and how many tests ran."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0", f"--mldock-runner={runner}"]
    times = measure(lambda: timed_run(argv, cwd=project, env=env), runs)
    done = subprocess.run(
        [*argv, "--co"], cwd=project, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    match = re.search(r"(\d+) tests? collected", done.stdout)
    return median(times), int(match.group(1)) if match else 0


# -- the run -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="repetitions per figure (median reported)")
    parser.add_argument("--calls", type=int, default=8, help="timed mldock_container calls per generated suite")
    parser.add_argument("--suite-runs", type=int, default=3, help="runs of each template suite per runner")
    parser.add_argument("--templates", default="gcp", help="comma-separated templates whose suites are timed")
    parser.add_argument("--no-docker", action="store_true", help="skip everything that needs a container engine")
    parser.add_argument("--bytecode", choices=("cached", "as-is"), default="cached", help="see the docstring")
    parser.add_argument("--big-file-mib", type=int, default=256, help="size of the data file of the big project")
    parser.add_argument("--base-image", default=None, help="base image of the projects (default: mldock's local one)")
    args = parser.parse_args(argv)
    templates = [t.strip() for t in args.templates.split(",") if t.strip()]
    if unknown := sorted(set(templates) - set(TEMPLATES)):
        parser.error(f"unknown template(s) {', '.join(unknown)}; choose from {', '.join(TEMPLATES)}")

    from mldock.image import LOCAL_BASE_IMAGE, build_image, image_tag
    from mldock.image.builder import plan_build
    from mldock.project.config import load_project
    from mldock.runners import RunSpec
    from mldock.runners.process import ProcessRunner

    load_start = os.getloadavg()[0]
    base_image = args.base_image or LOCAL_BASE_IMAGE
    env = child_environment(args.bytecode)
    figures: list[Figure] = []
    notes: list[str] = []
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731

    with tempfile.TemporaryDirectory(prefix="mldock-testloop-") as tmp:
        root = Path(tmp)
        say(f"projects in {root}; byte code {args.bytecode} ({env.get('PYTHONPYCACHEPREFIX', 'the default places')})")
        gcp = init_template(root, "gcp", base_image, env)
        trivial = load_project(trivial_project(root / "trivial", base_image))
        spec = RunSpec(trivial, trivial.stage("dev"))

        # process lifecycle
        say("timing the process lifecycle ...")
        process_runner = ProcessRunner(host_environ=env, keep_base_dir=False)

        def process_lifecycle() -> None:
            result = process_runner.run(spec)
            if not result.succeeded:
                raise SystemExit(f"process lifecycle failed:\n{result.describe()}")

        cpu_started = cpu_seconds()
        process_times = measure(process_lifecycle, args.runs, warmup=2)
        process_cpu = (cpu_seconds() - cpu_started) / (args.runs + 2)
        figures.append(
            Figure(
                "process lifecycle (trivial step)",
                median(process_times),
                0.2,
                "< 0.2 s",
                cpu=process_cpu,
                least=min(process_times),
            )
        )

        # docker lifecycle against a bare docker run, interleaved so load drift hits both alike
        if not args.no_docker:
            from mldock.engine import connect
            from mldock.runners.docker import DockerRunner

            client = connect()
            say("building the trivial project's image (untimed) ...")
            tag = build_image(trivial, client=client).tag
            docker_runner = DockerRunner(client)

            def bare() -> None:
                client.containers.run(tag, ["train"], remove=True)

            def docker_lifecycle() -> None:
                result = docker_runner.run(spec)
                if not result.succeeded:
                    raise SystemExit(f"docker lifecycle failed:\n{result.describe()}")
                docker_runner.cleanup()

            say("timing bare docker runs and docker lifecycles ...")
            bare(), docker_lifecycle()
            bare_times: list[float] = []
            docker_times: list[float] = []
            for _ in range(args.runs):
                bare_times += measure(bare, 1, warmup=0)
                docker_times += measure(docker_lifecycle, 1, warmup=0)
            if image_tag(trivial) != tag:
                notes.append(
                    "mldock's sources changed during the docker rows, so some lifecycles included a rebuild: "
                    "run on a quiet checkout (or a copy of it on PYTHONPATH)"
                )
            bare_median, docker_median = median(bare_times), median(docker_times)
            target = 1.1 * bare_median + 0.2
            figures.append(Figure("bare docker run (docker-py, no mldock)", bare_median, least=min(bare_times)))
            figures.append(
                Figure(
                    "docker lifecycle (trivial step)",
                    docker_median,
                    target,
                    f"<= 1.1 x bare + 0.2 s = {target:.2f} s",
                    f"{docker_median / bare_median:.2f}x bare, +{docker_median - bare_median:.3f} s",
                    least=min(docker_times),
                )
            )

        # mldock's own cost per mldock_container call
        say("timing mldock_container calls (a step that does nothing) ...")
        calls = max(args.calls, args.runs)
        bare_calls = trivial_project(root / "calls", base_image, calls=calls + 1)
        cost, own, least_own = per_call_cost(bare_calls, env, calls)
        figures.append(
            Figure(
                "mldock cost per mldock_container call",
                own,
                0.15,
                "<= 0.15 s",
                f"setup {cost.setup:.3f} + call {cost.call:.3f} + teardown {cost.teardown:.3f} - step {cost.work:.4f}",
                cpu=cost.cpu,
                least=least_own,
            )
        )
        say("timing mldock_container calls on the gcp template's channels ...")
        channel_calls = trivial_project(root / "calls-gs", base_image, channels_from=gcp, calls=calls + 1)
        channel_cost, channel_own, least_channel_own = per_call_cost(channel_calls, env, calls)
        figures.append(
            Figure(
                "... with the gcp template's 3 channels",
                channel_own,
                note=(
                    f"setup {channel_cost.setup:.3f} + call {channel_cost.call:.3f} + teardown "
                    f"{channel_cost.teardown:.3f}; includes the SDK"
                ),
                cpu=channel_cost.cpu,
                least=least_channel_own,
            )
        )

        # where the per-call cost goes
        say("timing the pieces of one call ...")
        pieces = piece_times(bare_calls, env, args.runs, "google.cloud.storage", process_lifecycle)

        def piece(name: str, *minus: str) -> tuple[float, float]:
            wall, cpu = pieces[name]
            return wall - sum(pieces[m][0] for m in minus), cpu - sum(pieces[m][1] for m in minus)

        breakdown = [
            (
                "interpreter start (python -c pass), x2: entrypoint and step",
                tuple(2 * v for v in pieces["interpreter"]),
            ),
            ("entrypoint imports (import mldock.runtime.entrypoint)", piece("entrypoint imports", "interpreter")),
            ("step process imports and run (python -m mldock.runtime.step)", piece("step process", "interpreter")),
            (
                "entrypoint lifecycle (setup, startup, wait, cleanup)",
                piece("entrypoint train", "entrypoint imports", "step process"),
            ),
            ("process runner (environment, base dir, spawn)", piece("process lifecycle", "entrypoint train")),
            ("= process lifecycle", pieces["process lifecycle"]),
            (
                "plugin (spec, storage env, report) around the runner*",
                (cost.call - pieces["process lifecycle"][0], cost.cpu - pieces["process lifecycle"][1]),
            ),
            ("plugin fixtures' setup + teardown, no channels", (cost.setup + cost.teardown, float("nan"))),
            ("storage set-up + tear-down, 3 gs channels", (channel_cost.setup + channel_cost.teardown, float("nan"))),
            (
                "the call with 3 gs channels, less the call without",
                (channel_cost.call - cost.call, channel_cost.cpu - cost.cpu),
            ),
            ("... of which google.cloud.storage's import in the task", piece("sdk import", "interpreter")),
        ]

        # the unchanged-project check
        say("timing the unchanged-project check ...")
        gcp_project = load_project(gcp)
        if not args.no_docker:
            build_image(gcp_project, client=client)  # untimed: the first build
            mldock_cli("build", cwd=gcp, env=env)

            def check() -> None:
                if build_image(gcp_project, client=client).rebuilt:
                    raise SystemExit("the unchanged-project check rebuilt the gcp template")

            figures.append(
                Figure("unchanged-project check (build_image)", median(measure(check, args.runs)), 0.05, "< 0.05 s")
            )
            cli_times = measure(lambda: mldock_cli("build", cwd=gcp, env=env), args.runs)
            figures.append(Figure("`mldock build`, nothing changed (a process)", median(cli_times)))
        else:
            figures.append(
                Figure(
                    "unchanged-project check (plan_build, no engine)",
                    median(measure(lambda: plan_build(gcp_project), args.runs)),
                    0.05,
                    "< 0.05 s",
                )
            )

        say(f"timing the unchanged-project check with {args.big_file_mib} MiB of data in the project ...")
        big = root / "template-gcp-big"
        shutil.copytree(gcp, big)
        with open(big / "weights.bin", "wb") as out:
            for _ in range(args.big_file_mib):
                out.write(os.urandom(1 << 20))
        time.sleep(2.5)  # let the file settle: one changed within 2 s of hashing is hashed again next time
        big_project = load_project(big)
        first = measure(lambda: plan_build(big_project), 1, warmup=0)[0]
        figures.append(
            Figure(
                f"... with {args.big_file_mib} MiB in the project (plan_build)",
                median(measure(lambda: plan_build(big_project), args.runs, warmup=0)),
                0.05,
                "< 0.05 s",
                f"the first hashing took {first:.2f} s",
            )
        )

        # the template suites
        for template in templates:
            project = gcp if template == "gcp" else init_template(root, template, base_image, env)
            say(f"timing the {template} template's suite (process runner) ...")
            wall, tests = suite_time(project, env, "process", args.suite_runs)
            figures.append(Figure(f"{template} template suite, process runner", wall, note=f"{tests} tests"))
            if not args.no_docker:
                say(f"building the {template} template's image (untimed) and timing its suite (docker runner) ...")
                mldock_cli("build", cwd=project, env=env)
                wall, tests = suite_time(project, env, "docker", args.suite_runs)
                figures.append(Figure(f"{template} template suite, docker runner", wall, note=f"{tests} tests"))
        if args.no_docker:
            notes.append("--no-docker: no docker rows; the unchanged-project check is plan_build alone")

    print(f"\ntest-loop benchmark: medians of {args.runs} runs (suites: {args.suite_runs}), seconds\n")
    print(f"{'figure':48} {'measured':>9} {'min':>6} {'cpu':>6}  {'target':30} {'verdict':7}  note")
    for figure in figures:
        cpu = "" if figure.cpu is None else f"{figure.cpu:6.3f}"
        least = "" if figure.least is None else f"{figure.least:6.3f}"
        print(
            f"{figure.name:48} {figure.seconds:9.3f} {least:>6} {cpu:>6}  {figure.target_text:30} "
            f"{figure.verdict():7}  {figure.note}"
        )
    print("\nwhere one call's time goes (process runner), seconds\n")
    print(f"  {'piece':66} {'wall':>7} {'cpu':>7}")
    for name, (wall, cpu) in breakdown:
        print(f"  {name:66} {wall:7.3f} {cpu:7.3f}")
    print("  * the call is timed inside the test run, the lifecycle here: the wall difference carries the load's drift")
    print(f"\nload average (1 min) at the start {load_start:.1f}, at the end {os.getloadavg()[0]:.1f}")
    for line in notes:
        print(f"note: {line}")
    return 0 if all(f.verdict() in ("", "PASS") for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
