"""Contract items judged from what a harness run left: each with its requirement and evidence.

training_items(report, run)             # SageMaker: a normal training run
stopped_training_items(report, run)     # SageMaker: a run stopped with SIGTERM while the step ran
serving_items(report, run)              # SageMaker hosting
vertex_training_items(report, run), vertex_serving_items(report, run, payload)
azureml_training_items(report, run, model_channels), azureml_serving_items(report, run)
"""

from __future__ import annotations

import json
import signal
import tarfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from mldock import contract
from mldock.harness import azureml, vertex
from mldock.harness.azureml import AzureMLTrainingRun
from mldock.harness.report import ContractReport
from mldock.harness.sagemaker import ServingRun, TrainingRun
from mldock.harness.vertex import VertexTrainingRun
from mldock.runtime.metrics import METRICS_FILE, PARAMS_FILE

__all__ = [
    "azureml_serving_items",
    "azureml_training_items",
    "serving_items",
    "stopped_training_items",
    "training_items",
    "vertex_serving_items",
    "vertex_training_items",
]

_RUN_FILES = {Path(METRICS_FILE).name, Path(PARAMS_FILE).name}
"""The runtime's own record of a run in <base>/output (mldock.runtime.metrics): not a user's output."""
_PING_LIMIT = 2.0
"""SageMaker times each /ping out after 2 s."""
_LOG_TAIL = 15


def training_items(report: ContractReport, run: TrainingRun, model_channels: Collection[str] = ()) -> None:
    """A training run: exit 0, SageMaker's layout recognised, model and outputs where SageMaker packs them.

    `model_channels`: the project's output-model channel names; a model.tar.gz holding nothing but a folder of
    one of these names has the model nested where SageMaker's hosting would not find it.
    """
    report.add(
        "train.exit",
        run.exit_code == 0,
        f"exit code {run.exit_code}" + ("" if run.exit_code == 0 else f"\n{_tail(run.logs)}"),
        "`IMAGE train` exits 0",
    )
    _recognised(report, run.logs, "training")
    members = _members(run.model_tar)
    top = {member.split("/")[0] for member in members}
    nested = len(top) == 1 and top <= set(model_channels) and (run.model_dir / next(iter(top))).is_dir()
    report.add(
        "train.model-packed",
        bool(members) and not nested,
        f"model.tar.gz ({run.model_tar.stat().st_size} B): {_list(members)}",
        "the model is written to /opt/ml/model, at the top level of model.tar.gz",
    )
    names = {p.name for p in run.output_dir.iterdir()}
    own = sorted(names & _RUN_FILES)
    stray = sorted(names - {"data", "failure"} - _RUN_FILES)
    packed = _members(run.output_tar) if run.output_tar is not None else []
    report.add(
        "train.outputs-packed",
        not stray,
        (f"outside /opt/ml/output/data (SageMaker would not pack them): {', '.join(stray)}; " if stray else "")
        + f"output.tar.gz: {_list(packed) if packed else 'no outputs'}"
        + (f"; mldock's own run record, not uploaded: {', '.join(own)}" if own else ""),
        "other outputs go to /opt/ml/output/data (packed as output.tar.gz)",
    )
    _failure_file(report, run, expected=run.exit_code != 0)


def stopped_training_items(report: ContractReport, run: TrainingRun, deadline: float) -> None:
    """A run stopped with SIGTERM while the step ran: exit 143 before the deadline, the failure file says so."""
    report.add(
        "train.stop-deadline",
        run.exit_code is not None and run.stopped_after is not None and run.stopped_after < deadline,
        f"exit code {run.exit_code} {run.stopped_after}s after SIGTERM (SIGKILL at {deadline:g}s)"
        + ("" if run.exit_code is not None else f"\n{_tail(run.logs)}"),
        "a stopped job exits before SageMaker's SIGKILL",
    )
    report.add(
        "train.stop-exit-code",
        run.exit_code == 128 + signal.SIGTERM,
        f"exit code {run.exit_code}",
        "the exit code says SIGTERM (143)",
    )
    _failure_file(report, run, expected=True, says="SIGTERM")


def serving_items(report: ContractReport, run: ServingRun) -> None:
    """Hosting: /ping on 8080 with /opt/ml read-only and no network, /invocations, ping while busy, stop."""
    probe = run.probe
    ping = probe.get("ping", {})
    _recognised(report, run.logs, "hosting")
    report.add(
        "serve.model-unpacked",
        bool(run.model_files),
        f"/opt/ml/model (read-only): {_list(list(run.model_files))}",
        "model.tar.gz unpacked into /opt/ml/model",
    )
    healthy = report.add(
        "serve.ping",
        ping.get("status") == 200 and run.network_mode == "none",
        f"GET /ping on 8080: {ping.get('status')} after {ping.get('ready_after')}s (statuses seen "
        f"{ping.get('seen')}); network {run.network_mode or 'unknown'}; /opt/ml read-only"
        + ("" if ping.get("status") == 200 else f"\n{_tail(run.logs)}"),
        "`IMAGE serve` answers /ping 200 on port 8080, /opt/ml read-only, no network",
    )
    invoke = probe.get("invoke", {})
    report.add(
        "serve.invocations",
        healthy and invoke.get("status") == 200,
        f"POST /invocations with Content-Type, Accept and {contract.SAGEMAKER_CUSTOM_ATTRIBUTES_HEADER}: "
        f"{invoke.get('status')} {invoke.get('content_type')} in {invoke.get('took')}s: {invoke.get('body', '')[:120]}",
        "/invocations answers the sample payload",
    )
    _busy_item(report, "serve.ping-while-busy", probe.get("busy_ping", {}), healthy, "pings", "/ping")
    parameters = probe.get("execution_parameters", {})
    report.add(
        "serve.execution-parameters",
        healthy and parameters.get("status") == 200 and _has_parameters(parameters.get("body", "")),
        f"GET {contract.SAGEMAKER_EXECUTION_PARAMETERS_ROUTE}: {parameters.get('status')} {parameters.get('body')}",
        "batch transform's /execution-parameters answers",
    )
    report.add(
        "serve.stop",
        run.exit_code == 0 and run.stopped_after is not None,
        f"exit code {run.exit_code} {run.stopped_after}s after SIGTERM "
        f"(SIGKILL at {contract.SAGEMAKER_ENDPOINT_STOP_DEADLINE:g}s)",
        "the endpoint's container exits cleanly before SageMaker's SIGKILL",
    )


def vertex_training_items(report: ContractReport, run: VertexTrainingRun, model_channels: Collection[str] = ()) -> None:
    """Vertex AI training: exit 0 on the job's args alone, the model in AIP_MODEL_DIR, metrics for tuning."""
    _exit(report, run.exit_code, run.logs, "the image started with the job's args only (no command) exits 0")
    _layout(report, run.logs, "train", "Vertex AI training", "the runtime recognises the AIP_* variables")
    top = {key.split("/")[0] for key in run.model_objects}
    nested = len(top) == 1 and top <= set(model_channels) and all("/" in key for key in run.model_objects)
    report.add(
        "train.model-uploaded",
        bool(run.model_objects) and not nested,
        f"{run.model_uri}: {_list(list(run.model_objects))}"
        + (f" (through /gcs: {_list(list(run.fuse_objects))})" if run.fuse_objects else ""),
        "the model is written to AIP_MODEL_DIR (gs://), at its top level, where a Model's artifactUri points",
    )
    logged = run.metrics_logged
    report.add(
        "train.hypertune-metrics",
        len(run.hypertune_lines) == logged,
        f"{logged} metric(s) logged; {len(run.hypertune_lines)} line(s) in {vertex.HYPERTUNE_FILE}"
        + (f": {run.hypertune_lines[0][:160]}" if run.hypertune_lines else ""),
        "each metric logged reaches CLOUD_ML_HP_METRIC_FILE, where hyperparameter tuning reads it",
    )


def vertex_serving_items(report: ContractReport, run: ServingRun, payload: bytes) -> None:
    """Vertex AI prediction: the model from AIP_STORAGE_URI, health and predict on its routes and port, stop."""
    ping = run.probe.get("ping", {})
    _layout(report, run.logs, "serve", "Vertex AI prediction", "the runtime recognises the AIP_* variables")
    healthy = report.add(
        "serve.health",
        ping.get("status") == 200,
        f"GET AIP_HEALTH_ROUTE on AIP_HTTP_PORT: {ping.get('status')} after {ping.get('ready_after')}s "
        f"(statuses seen {ping.get('seen')}); model objects at AIP_STORAGE_URI: {_list(list(run.model_files))}"
        + ("" if ping.get("status") == 200 else f"\n{_tail(run.logs)}"),
        "the image started with no command copies the model from AIP_STORAGE_URI and answers the health route",
    )
    invoke = run.probe.get("invoke", {})
    expected = _instances(payload)
    answered = _predictions(invoke.get("body", ""))
    report.add(
        "serve.predict",
        healthy and invoke.get("status") == 200 and answered is not None and (expected < 0 or answered == expected),
        f"POST AIP_PREDICT_ROUTE: {invoke.get('status')} {invoke.get('content_type')} in {invoke.get('took')}s: "
        f"{invoke.get('body', '')[:160]}",
        '{"instances": [...]} is answered with {"predictions": [...]}, one per instance',
    )
    _endpoint_items(report, run, healthy, vertex.ENDPOINT_STOP_DEADLINE)


def azureml_training_items(
    report: ContractReport, run: AzureMLTrainingRun, model_channels: Collection[str] = ()
) -> None:
    """An Azure ML command job: exit 0 with the mounted folders as arguments, the outputs in their folders."""
    _exit(report, run.exit_code, run.logs, "the job's command (channels as mounted folders) exits 0")
    outputs = run.outputs
    empty_models = sorted(name for name in model_channels if name in outputs and not outputs[name])
    report.add(
        "train.outputs",
        bool(outputs) and not empty_models,
        "; ".join(f"${{{{outputs.{name}}}}}: {_list(list(files))}" for name, files in outputs.items())
        + (f"; no model in {', '.join(empty_models)}" if empty_models else ""),
        "each output is written to its mounted folder (Azure ML uploads it after the exit)",
    )


def azureml_serving_items(report: ContractReport, run: ServingRun) -> None:
    """An Azure ML online deployment: no command, the model read-only under AZUREML_MODEL_DIR, its routes on 5001."""
    ping = run.probe.get("ping", {})
    _layout(report, run.logs, "serve", "Azure ML online deployment", "the runtime recognises AZUREML_MODEL_DIR")
    healthy = report.add(
        "serve.readiness",
        ping.get("status") == 200,
        f"GET {azureml.READINESS_ROUTE} on {azureml.INFERENCE_PORT}: {ping.get('status')} after "
        f"{ping.get('ready_after')}s (statuses seen {ping.get('seen')}); model (read-only): "
        f"{_list(list(run.model_files))}" + ("" if ping.get("status") == 200 else f"\n{_tail(run.logs)}"),
        f"the image started with no command loads the model under AZUREML_MODEL_DIR and answers the readiness "
        f"route (GET {azureml.READINESS_ROUTE}) on port {azureml.INFERENCE_PORT}",
    )
    liveness = run.probe.get("gets", {}).get(azureml.LIVENESS_ROUTE)
    report.add(
        "serve.liveness",
        healthy and liveness == 200,
        f"GET {azureml.LIVENESS_ROUTE} on {azureml.INFERENCE_PORT}: {liveness}",
        f"the liveness route (GET {azureml.LIVENESS_ROUTE}) answers 200",
    )
    invoke = run.probe.get("invoke", {})
    report.add(
        "serve.score",
        healthy and invoke.get("status") == 200,
        f"POST {azureml.SCORING_ROUTE}: {invoke.get('status')} {invoke.get('content_type')} in {invoke.get('took')}s: "
        f"{invoke.get('body', '')[:160]}",
        f"the scoring route (POST {azureml.SCORING_ROUTE}) answers the sample payload",
    )
    _endpoint_items(report, run, healthy, azureml.ENDPOINT_STOP_DEADLINE)


def _layout(report: ContractReport, logs: str, task: str, marker: str, requirement: str) -> None:
    line = next((line for line in logs.splitlines() if f"setup: {marker}" in line), "")
    report.add(
        f"{task}.layout-recognised", bool(line), line.strip() or f"no 'setup: {marker}' line in the log", requirement
    )


def _exit(report: ContractReport, code: int | None, logs: str, requirement: str) -> None:
    report.add("train.exit", code == 0, f"exit code {code}" + ("" if code == 0 else f"\n{_tail(logs)}"), requirement)


def _busy_item(report: ContractReport, item: str, busy: dict[str, Any], healthy: bool, what: str, route: str) -> None:
    """`item`: every health check the probe sent while all workers predicted answered 200 within _PING_LIMIT."""
    report.add(
        item,
        healthy
        and busy.get("max") is not None
        and busy["max"] < _PING_LIMIT
        and all(status == 200 for status, _ in busy.get("pings", [])),
        f"{len(busy.get('pings', []))} {what} during {busy.get('predictions_meanwhile')} predictions "
        f"(statuses {busy.get('prediction_statuses')}): slowest {busy.get('max')}s",
        f"{route} answers within {_PING_LIMIT:g}s while every worker is busy",
    )


def _endpoint_items(report: ContractReport, run: ServingRun, healthy: bool, deadline: float) -> None:
    _busy_item(
        report, "serve.health-while-busy", run.probe.get("busy_ping", {}), healthy, "health checks", "the health route"
    )
    report.add(
        "serve.stop",
        run.exit_code == 0 and run.stopped_after is not None,
        f"exit code {run.exit_code} {run.stopped_after}s after SIGTERM (SIGKILL at {deadline:g}s)",
        "the container exits cleanly after SIGTERM, before the SIGKILL",
    )


def _instances(payload: bytes) -> int:
    """How many instances the payload holds; -1 when it is no {"instances": [...]} object."""
    try:
        data = json.loads(payload)
    except ValueError:
        return -1
    instances = data.get("instances") if isinstance(data, dict) else None
    return len(instances) if isinstance(instances, list) else -1


def _predictions(body: str) -> int | None:
    """How many predictions a {"predictions": [...]} answer holds; None for any other answer."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    predictions = data.get("predictions") if isinstance(data, dict) else None
    return len(predictions) if isinstance(predictions, list) else None


def _recognised(report: ContractReport, logs: str, kind: str) -> None:
    marker = f"setup: SageMaker {kind}"
    line = next((line for line in logs.splitlines() if marker in line), "")
    report.add(
        f"{'train' if kind == 'training' else 'serve'}.layout-recognised",
        bool(line),
        line.strip() or f"no '{marker}' line in the log",
        "the runtime recognises SageMaker's layout with no MLDOCK_* variable",
    )


def _failure_file(report: ContractReport, run: TrainingRun, *, expected: bool, says: str = "") -> None:
    text = run.failure_text
    if not expected:
        report.add(
            "train.failure-file",
            text is None,
            "no /opt/ml/output/failure" if text is None else text,
            "no failure file after a success",
        )
        return
    first = (text or "").splitlines()[0] if text else ""
    report.add(
        "train.failure-file",
        bool(first) and says in (text or ""),
        f"first line: {first!r}; {len(text or '')} characters within SageMaker's {contract.SAGEMAKER_FAILURE_LIMIT}"
        if text
        else "no /opt/ml/output/failure",
        "the failure file SageMaker reads (first 1024 characters) gives the reason" + (f" ({says})" if says else ""),
    )


def _has_parameters(body: str) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and {"MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB"} <= set(data)


def _members(archive: object) -> list[str]:
    if archive is None:
        return []
    with tarfile.open(str(archive), "r:*") as tar:
        return sorted(member.name for member in tar.getmembers())


def _list(names: list[str], limit: int = 8) -> str:
    if not names:
        return "empty"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _tail(logs: str) -> str:
    return "\n".join(logs.rstrip().splitlines()[-_LOG_TAIL:])
