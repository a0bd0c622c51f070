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

At launch both runners move `MLDOCK_HYPERPARAMETERS` into a file (`env.hyperparameters_in_file(folder)`) named by
`MLDOCK_HYPERPARAMETERS_FILE` (the docker runner mounts it read-only, mldock.runners.mounts), so hyperparameters
of any size start: one variable is limited to 128 KiB on Linux. The masked copy still shows the hyperparameters,
and the secrets among them are still masked in the task's output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mldock.contract import HYPERPARAMETERS as HYPERPARAMETERS_VARIABLE
from mldock.contract import HYPERPARAMETERS_FILE_VARIABLE
from mldock.errors import HyperparameterError, RunnerError
from mldock.runners.host_environment import check_pass_env, forwarded_variables
from mldock.runtime.redact import Redactor, redact_environ, secret_values

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
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    """Every secret the task can see (mldock.runtime.redact.secret_values), also those no variable carries now."""

    @classmethod
    def of(cls, variables: Mapping[str, str], *, secrets: Iterable[str] = ()) -> TaskEnvironment:
        """`variables` and their masked copy; `secrets` are masked in the task's output besides their own."""
        return cls(
            variables=dict(variables),
            masked=redact_environ(variables),
            secrets=frozenset(secret_values(variables)) | frozenset(secrets),
        )

    @cached_property
    def _redactor(self) -> Redactor:
        return Redactor(self.secrets)

    def redact(self, text: str) -> str:
        """`text` with every secret of this task (values of secret variables, secret-named hyperparameters,
        credentials inside URIs) replaced by *** in any of its printed forms."""
        return self._redactor(text)

    def with_variables(self, variables: Mapping[str, str]) -> TaskEnvironment:
        """`variables` in place of these (paths rewritten for mounts, say), keeping every secret masked and the
        hyperparameters shown when a file carries them."""
        changed = TaskEnvironment.of(variables, secrets=self.secrets)
        shown = self.masked.get(HYPERPARAMETERS_VARIABLE)
        if shown is not None and HYPERPARAMETERS_VARIABLE not in variables:
            changed = TaskEnvironment(
                changed.variables, {**changed.masked, HYPERPARAMETERS_VARIABLE: shown}, changed.secrets
            )
        return changed

    def hyperparameters_in_file(self, folder: Path) -> TaskEnvironment:
        """These variables with `MLDOCK_HYPERPARAMETERS` written to `folder`/hyperparameters.json and replaced by
        `MLDOCK_HYPERPARAMETERS_FILE` naming it (unchanged when there are none): no environment-size limit."""
        text = self.variables.get(HYPERPARAMETERS_VARIABLE)
        if text is None:
            return self
        path = folder / "hyperparameters.json"
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise RunnerError(f"cannot write the task's hyperparameters file {path}: {exc}") from exc
        variables = {k: v for k, v in self.variables.items() if k != HYPERPARAMETERS_VARIABLE}
        variables[HYPERPARAMETERS_FILE_VARIABLE] = str(path)
        return self.with_variables(variables)


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
