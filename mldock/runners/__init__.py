"""Runners: the project's entrypoint as a container (`docker`) or a subprocess (`process`), one result type.

    from mldock.runners import RunSpec, get_runner

    runner = get_runner("process")
    result = runner.run(RunSpec(project, project.stage("test"), environment=channels))
    result.assert_succeeded()

    with get_runner("docker").serve(RunSpec(project, project.stage("test"), task="serve")) as endpoint:
        endpoint.invoke({"rows": [[1, 2]]}).json()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mldock.errors import UserError
from mldock.runners.base import Runner, RunResult, RunSpec, ServingEndpoint, Task

if TYPE_CHECKING:
    from mldock.runners.docker import DockerRunner
    from mldock.runners.process import ProcessRunner

__all__ = [
    "RUNNER_NAMES",
    "DockerRunner",
    "ProcessRunner",
    "RunResult",
    "RunSpec",
    "Runner",
    "ServingEndpoint",
    "Task",
    "get_runner",
]

RUNNER_NAMES = ("docker", "process")


def get_runner(name: str, **options: Any) -> Runner:
    """The runner called `name` ("docker" or "process"), constructed with `options`.

    docker-py is imported only when the docker runner is asked for.
    """
    if name == "process":
        from mldock.runners.process import ProcessRunner

        return ProcessRunner(**options)
    if name == "docker":
        from mldock.runners.docker import DockerRunner

        runner: Runner = DockerRunner(**options)
        return runner
    raise UserError(f"unknown runner {name!r}; choose one of: {', '.join(RUNNER_NAMES)}")


def __getattr__(name: str) -> Any:
    """Import the runner classes on first use (keeps `import mldock.runners` light)."""
    if name == "ProcessRunner":
        from mldock.runners.process import ProcessRunner

        return ProcessRunner
    if name == "DockerRunner":
        from mldock.runners.docker import DockerRunner

        return DockerRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
