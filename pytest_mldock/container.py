"""`mldock_container`: run the project's container for a task and get its lifecycle result.

    def test_trains(mldock_storage, mldock_container):
        mldock_storage.input("train", {"data.csv": b"x,y\\n1,2\\n"}, scheme="s3")
        mldock_storage.output("metrics")
        result = mldock_container("train", hyperparameters={"epochs": 2})
        result.assert_succeeded()
        result.outputs["metrics"]            # {"metrics.json": b"..."}

    def test_serves(mldock_container):
        with mldock_container.serve() as endpoint:
            assert endpoint.invoke(b'{"rows": [[1, 2]]}', "application/json").status == 200

The container gets the stage's environment and hyperparameters (from mldock.json), the channels of
`mldock_storage` (the stage's own channels pointed at this test's fresh buckets), the emulators those channels
use, and what the call adds. The runner is `--mldock-runner` unless `@pytest.mark.mldock(runner=...)` says
otherwise; the docker runner builds the image first (cached by content).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from mldock.contract import DEFAULT_BASE_DIR, HYPERPARAMETERS
from mldock.runtime.channels import ChannelKind, parse_channels
from mldock.runtime.metrics import METRICS_FILE, MetricRecord, read_metric_records
from pytest_mldock.report import describe_failure, record, remember_secrets

if TYPE_CHECKING:
    from mldock.project.config import ProjectConfig, StageConfig
    from mldock.runners.base import Runner, RunResult, RunSpec, ServingEndpoint
    from pytest_mldock.options import RunnerName
    from pytest_mldock.storage import MldockStorage

__all__ = ["ContainerResult", "MldockContainer", "RunnerPool"]


class RunnerPool:
    """One runner per name for the session; their leftovers (base dirs) are removed at the end."""

    def __init__(self) -> None:
        self._runners: dict[str, Runner] = {}

    def get(self, name: RunnerName) -> Runner:
        if name not in self._runners:
            # lazy: the plugin loads in every pytest run; the runners (docker-py) only when a test runs a container
            from mldock.runners import get_runner

            self._runners[name] = get_runner(name)
        return self._runners[name]

    def close(self) -> None:
        for runner in self._runners.values():
            cleanup = getattr(runner, "cleanup", None)
            if callable(cleanup):
                cleanup()


class ContainerResult:
    """The lifecycle result of one run, with what its output channels received.

        result.assert_succeeded()
        result.assert_failed(match="column 'y' is missing")
        result.exit_code, result.logs, result.failure, result.outputs["metrics"], result.models["model"]
        [m.value for m in result.metrics if m.name == "loss"]     # what env.log_metric reported, in order
    """

    def __init__(self, run: RunResult, *, storage: MldockStorage, environment: Mapping[str, str]) -> None:
        self.run = run
        """The runner's RunResult."""
        self._storage = storage
        self._environment = dict(environment)

    @property
    def task(self) -> str:
        return self.run.task

    @property
    def exit_code(self) -> int:
        return self.run.exit_code

    @property
    def logs(self) -> str:
        return self.run.logs

    @property
    def failure(self) -> str | None:
        """The failure file's text (None when the task wrote none)."""
        return self.run.failure

    @property
    def failure_reason(self) -> str | None:
        """The first line of the failure file."""
        return self.run.failure_reason

    @property
    def succeeded(self) -> bool:
        return self.run.succeeded

    @property
    def timed_out(self) -> bool:
        return self.run.timed_out

    @property
    def environment(self) -> Mapping[str, str]:
        """What the task got, secrets masked."""
        return self.run.environment

    @functools.cached_property
    def outputs(self) -> dict[str, dict[str, bytes]]:
        """Output channel name -> {key: content} read back from the channel's URI after the run."""
        return self._read_back(ChannelKind.OUTPUT)

    @functools.cached_property
    def models(self) -> dict[str, dict[str, bytes]]:
        """Output model channel name -> {key: content} read back after the run."""
        return self._read_back(ChannelKind.OUTPUT_MODEL)

    @functools.cached_property
    def metrics(self) -> list[MetricRecord]:
        """The metrics the run reported with env.log_metric (its metrics.jsonl), in order; [] when none.

        Read from the runner's host copy of the base dir (both runners keep one)."""
        if self.run.base_dir is None:
            return []
        return read_metric_records(self.run.base_dir / METRICS_FILE)

    def describe(self) -> str:
        """Outcome, failure file, log tail and the masked environment (as in assertion messages)."""
        return self.run.describe()

    def assert_succeeded(self) -> None:
        """Fail the test, showing logs, failure file and environment, unless the lifecycle succeeded."""
        __tracebackhide__ = True
        if not self.succeeded:
            raise AssertionError(describe_failure(f"expected the {self.task} lifecycle to succeed", self.describe()))

    def assert_failed(self, match: str | None = None) -> None:
        """Fail the test unless the lifecycle failed (and, with `match`, its failure file matches the regex)."""
        __tracebackhide__ = True
        if self.succeeded:
            raise AssertionError(describe_failure(f"expected the {self.task} lifecycle to fail", self.describe()))
        if match is not None and not re.search(match, self.failure or ""):
            raise AssertionError(
                describe_failure(f"the {self.task} failure file does not match {match!r}", self.describe())
            )

    def _read_back(self, kind: ChannelKind) -> dict[str, dict[str, bytes]]:
        channels = parse_channels(self._environment, DEFAULT_BASE_DIR)
        return {c.name: self._storage.read(str(c.uri)) for c in channels if c.kind is kind}

    def __repr__(self) -> str:
        return f"ContainerResult(task={self.task!r}, exit_code={self.exit_code}, failure={self.failure_reason!r})"


class MldockContainer:
    """Runs the project's container for a task; call it for `train`, use `.serve()` for serving.

        result = mldock_container("train", hyperparameters={"epochs": 1}, env={"MLDOCK_DEBUG": "1"}, timeout=120)
        with mldock_container.serve() as endpoint:
            endpoint.invoke(b"[1, 2]", "application/json")
    """

    def __init__(
        self,
        *,
        item: pytest.Item,
        project: ProjectConfig,
        stage: StageConfig,
        storage: MldockStorage,
        runner: RunnerName,
        pool: RunnerPool,
        pass_env: tuple[str, ...] = (),
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        self._item = item
        self.pass_env = pass_env
        self.resources = dict(resources or {})
        """GPUs, shared memory, CPUs, memory, platform for the docker runner (the marker's `resources`)."""
        """Host variables the container gets besides the cloud SDKs' own (--mldock-pass-env and the marker)."""
        self.project = project
        self.stage = stage
        self.storage = storage
        self.runner_name = runner
        self._pool = pool
        self.results: list[ContainerResult] = []
        """Every result of this test, in order."""

    def __call__(
        self,
        task: str = "train",
        *,
        hyperparameters: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ContainerResult:
        """Run `task` to the end (or `timeout` seconds) and return its result; failures are returned, not raised."""
        if task == "serve":
            raise ValueError("mldock_container: use `with mldock_container.serve() as endpoint:` to serve")
        if task != "train":
            raise ValueError(f"mldock_container: unknown task {task!r}; the tasks are 'train' and 'serve'")
        spec = self._spec("train", hyperparameters, env, timeout)
        remember_secrets(self._item, _task_variables(spec))
        run = self._runner().run(spec)
        record(self._item, f"{self.runner_name} {task}", run.logs, spec.environment)
        result = ContainerResult(run, storage=self.storage, environment=spec.environment)
        self.results.append(result)
        return result

    @contextlib.contextmanager
    def serve(
        self,
        *,
        hyperparameters: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
    ) -> Iterator[ServingEndpoint]:
        """Start serving, wait until /ping answers, yield the endpoint (`invoke(body, content_type)`); stop after."""
        spec = self._spec("serve", hyperparameters, env, None)
        remember_secrets(self._item, _task_variables(spec))
        with self._runner().serve(spec, ready_timeout=ready_timeout) as endpoint:
            try:
                yield endpoint
            finally:
                logs = "(the serving logs could not be read)"
                with contextlib.suppress(Exception):
                    logs = endpoint.logs()
                record(self._item, f"{self.runner_name} serve", logs, spec.environment)

    def _runner(self) -> Runner:
        return self._pool.get(self.runner_name)

    def _spec(
        self,
        task: str,
        hyperparameters: Mapping[str, Any] | None,
        env: Mapping[str, str] | None,
        timeout: float | None,
    ) -> RunSpec:
        from mldock.runners.base import RunSpec  # lazy: see RunnerPool.get

        environment = {**self.storage.run_environment(), **(env or {})}
        return RunSpec(
            project=self.project,
            stage=self.stage,
            task="serve" if task == "serve" else "train",
            environment=environment,
            hyperparameters=dict(hyperparameters or {}),
            emulators=tuple(self.storage.emulators),
            timeout=timeout,
            labels={"mldock.pytest.test": self._item.nodeid[:200]},
            pass_env=self.pass_env,
            resources=self.resources,
        )


def _task_variables(spec: RunSpec) -> dict[str, str]:
    """What a run's task gets, for masking: the stage's variables, the run's, and the hyperparameters as the
    variable would carry them."""
    hyperparameters = {**spec.stage.hyperparameters, **spec.hyperparameters}
    return {
        **spec.stage.container_environment(),
        **spec.environment,
        HYPERPARAMETERS: json.dumps(hyperparameters, default=str),
    }
