"""What every runner takes and gives back: one spec, one result, one serving endpoint.

    runner = get_runner("process")                      # or "docker"
    result = runner.run(RunSpec(project, project.stage("test"), environment=channel_env))
    result.assert_succeeded()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from mldock.emulators.base import Emulator
    from mldock.project.config import ProjectConfig, StageConfig

__all__ = ["RunResult", "RunSpec", "Runner", "ServingEndpoint", "Task"]

Task = Literal["train", "serve"]


@dataclass(frozen=True)
class RunSpec:
    """One run of a project's container for a task and stage.

    `environment` is added to the stage's variables (keys are used as given: pass full `MLDOCK_...` names, or
    an SDK variable such as `AWS_REGION` as it is).
    `hyperparameters` overlay the stage's. `emulators` are the running emulators the container must reach:
    the runner adds their SDK variables, rewritten to an address that works from where the task runs.
    """

    project: ProjectConfig
    stage: StageConfig
    task: Task = "train"
    environment: Mapping[str, str] = field(default_factory=dict)
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    emulators: Sequence[Emulator] = ()
    timeout: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    pass_env: Sequence[str] = ()
    resources: Mapping[str, Any] = field(default_factory=dict)
    """GPUs, shared memory, CPUs, memory, platform for the container (mldock.runners.resources), over the
    project's and the stage's; the process runner ignores them."""
    """Host variables the task gets besides the SDKs' own (mldock.runners.host_environment); added to the
    project's `pass_env`. A name ending in `*` passes every variable with that prefix."""


@dataclass(frozen=True)
class RunResult:
    """The outcome of one lifecycle: exit code, logs, failure file, where the base dir's output went."""

    task: Task
    exit_code: int
    logs: str
    failure: str | None
    duration: float
    environment: Mapping[str, str]
    """What the task got, secrets masked."""
    timed_out: bool = False
    base_dir: Path | None = None
    """A host copy of the task's MLDOCK_BASE_DIR after the run (None when the runner could not copy it)."""

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def failure_reason(self) -> str | None:
        """The first line of the failure file."""
        return self.failure.splitlines()[0] if self.failure else None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.logs.splitlines()[-lines:])

    def describe(self) -> str:
        """A report for assertion messages: outcome, failure file, log tail, environment."""
        env = "\n".join(f"  {k}={v}" for k, v in sorted(self.environment.items()))
        state = "timed out" if self.timed_out else f"exit code {self.exit_code}"
        return (
            f"{self.task} {state} after {self.duration:.1f}s\n"
            f"--- failure file ---\n{self.failure or '(none)'}\n"
            f"--- logs (tail) ---\n{self.log_tail()}\n"
            f"--- environment ---\n{env}"
        )

    def assert_succeeded(self) -> None:
        if not self.succeeded:
            raise AssertionError(f"expected the {self.task} lifecycle to succeed\n{self.describe()}")

    def assert_failed(self, match: str | None = None) -> None:
        import re

        if self.succeeded:
            raise AssertionError(f"expected the {self.task} lifecycle to fail\n{self.describe()}")
        if match is not None and not re.search(match, self.failure or ""):
            raise AssertionError(f"failure file does not match {match!r}\n{self.describe()}")


class ServingEndpoint(Protocol):
    """A live serving container or process."""

    url: str

    def invoke(self, body: bytes | str, content_type: str = "application/json", accept: str = "*/*") -> Any:
        """POST to /invocations; returns the response (status, headers, body)."""
        ...

    def ping(self) -> int:
        """The status code of GET /ping."""
        ...

    def logs(self) -> str: ...


class Runner(Protocol):
    """Runs a project's entrypoint as a container (`docker`) or a subprocess (`process`)."""

    name: str

    def run(self, spec: RunSpec) -> RunResult: ...

    def serve(
        self, spec: RunSpec, *, ready_timeout: float = 60.0, port: int | None = None, host: str = "127.0.0.1"
    ) -> AbstractContextManager[ServingEndpoint]:
        """Start serving, wait until /ping answers 200, yield the endpoint; stop gracefully on exit.

        The endpoint answers on `host:port` itself (no forwarder in between): `port` None picks a free one.
        """
        ...
