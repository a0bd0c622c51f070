"""The one place that turns a RunSpec into the variables a task gets, and the masked copy that is reported.

    env = task_environment(spec, emulator_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    env.variables          # what the container or process gets
    env.masked             # the same with secrets replaced by *** (RunResult.environment)

Layers, later ones win:

0. what of the host's environment reaches a task (`mldock.runners.host_environment`: the cloud SDKs' own
   variables, and the project's and the spec's `pass_env`);
1. the stage's `environment` (keys already carry the `MLDOCK_` prefix) and `MLDOCK_STAGE`;
2. `spec.environment` (full names, as given);
3. `MLDOCK_HYPERPARAMETERS`: the stage's hyperparameters, overlaid by a JSON object already given in
   `spec.environment`, overlaid by `spec.hyperparameters` (omitted when all three are empty);
4. the emulator variables the runner computed for where the task runs (an emulator's address is the
   runner's business: it knows whether the task is a host process or a container);
5. the runner's own variables (`MLDOCK_BASE_DIR`, `MLDOCK_PROJECT_DIR`, `MLDOCK_SERVE_PORT`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mldock.contract import HYPERPARAMETERS as HYPERPARAMETERS_VARIABLE
from mldock.errors import HyperparameterError
from mldock.runners.host_environment import check_pass_env, forwarded_variables
from mldock.runtime.redact import redact_environ, redact_text

if TYPE_CHECKING:
    from mldock.runners.base import RunSpec

__all__ = [
    "HYPERPARAMETERS_VARIABLE",
    "TaskEnvironment",
    "merged_hyperparameters",
    "pass_env_of",
    "task_environment",
]


@dataclass(frozen=True)
class TaskEnvironment:
    """The variables of one task, and their masked copy for reports.

        env = task_environment(spec)
        subprocess.run(cmd, env={**os.environ, **env.variables})
        RunResult(..., environment=env.masked)
    """

    variables: Mapping[str, str]
    masked: Mapping[str, str]

    @classmethod
    def of(cls, variables: Mapping[str, str]) -> TaskEnvironment:
        """`variables` and their masked copy."""
        return cls(variables=dict(variables), masked=redact_environ(variables))

    def redact(self, text: str) -> str:
        """`text` with the value of every secret variable of this task replaced by ***."""
        return redact_text(text, self.variables)


def merged_hyperparameters(spec: RunSpec) -> dict[str, Any]:
    """Stage hyperparameters, overlaid by `MLDOCK_HYPERPARAMETERS` in `spec.environment`, then by the spec's."""
    merged: dict[str, Any] = dict(spec.stage.hyperparameters)
    given = spec.environment.get(HYPERPARAMETERS_VARIABLE)
    if given:
        try:
            parsed = json.loads(given)
        except json.JSONDecodeError as exc:
            raise HyperparameterError(
                f"{HYPERPARAMETERS_VARIABLE} in the run's environment is not valid JSON ({exc.msg}); "
                "give a JSON object, or pass hyperparameters= to the run instead"
            ) from exc
        if not isinstance(parsed, dict):
            raise HyperparameterError(
                f"{HYPERPARAMETERS_VARIABLE} in the run's environment must be a JSON object, "
                f"got {type(parsed).__name__}"
            )
        merged.update(parsed)
    merged.update(spec.hyperparameters)
    return merged


def pass_env_of(spec: RunSpec) -> tuple[str, ...]:
    """The pass-through list of a run: the project's (mldock.json) then the spec's, checked (UserError)."""
    return (*spec.project.pass_env, *check_pass_env(spec.pass_env, "pass_env of the run"))


def task_environment(
    spec: RunSpec,
    *,
    emulator_env: Mapping[str, str] | None = None,
    runner_env: Mapping[str, str] | None = None,
    host_environ: Mapping[str, str] | None = None,
) -> TaskEnvironment:
    """The variables `spec`'s task gets (see the module docstring for the layers) and their masked copy.

    `host_environ` is the developer's environment the forwarded variables come from (None: none forwarded).
    """
    variables: dict[str, str] = {}
    if host_environ is not None:
        variables.update(forwarded_variables(host_environ, pass_env_of(spec)))
    variables.update(spec.stage.container_environment())
    variables.update(spec.environment)
    hyperparameters = merged_hyperparameters(spec)
    if hyperparameters:
        try:
            variables[HYPERPARAMETERS_VARIABLE] = json.dumps(hyperparameters, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise HyperparameterError(f"hyperparameters cannot be written as JSON: {exc}") from exc
    else:
        variables.pop(HYPERPARAMETERS_VARIABLE, None)
    variables.update(emulator_env or {})
    variables.update(runner_env or {})
    return TaskEnvironment.of(variables)
