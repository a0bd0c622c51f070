"""Metrics and parameters a training step reports, written where each platform reads them.

    metrics = MetricsLog.for_run(base_dir, environ)         # Environment.metrics does this for you
    metrics.log_metric("accuracy", 0.93, step=3)
    metrics.log_param("optimizer", "adam")

One `log_metric` call writes, at once:
- a line on stderr, `mldock-metric: accuracy=0.93 step=3` (the step number only when given). SageMaker reads
  metrics from the job's log with the regexes of `metric_definitions`; for a metric NAME the regex is
  `mldock-metric: NAME=(-?inf|nan|[-+0-9.eE]+)` (`metric_regex(NAME)` builds it);
- a JSON line `{"name": ..., "value": ..., "step": ..., "timestamp": ...}` appended to
  `<base>/output/metrics.jsonl` (what `mldock run` and the pytest fixture read back);
- on Vertex AI hyperparameter tuning (CLOUD_ML_TRIAL_ID or CLOUD_ML_HP_METRIC_FILE set), the line
  cloudml-hypertune writes, `{"<name>": "<value>", "global_step": "<step>", "timestamp": ..., "trial": "<id>"}`,
  appended to CLOUD_ML_HP_METRIC_FILE (default /tmp/hypertune/output.metrics).

Reading back: `read_metric_records(path)` gives a metrics.jsonl's records as MetricRecord values (what
`result.metrics` of the pytest plugin and `mldock metrics` show); `read_metrics(base_dir)` the raw dicts.

`log_param` writes `mldock-param: name=value` on stderr and keeps `<base>/output/params.json` up to date.
A metric name is 1-64 characters of letters, digits and `_ . : / -`; a value is a real number (bool refused);
anything else is a MetricError (a UserError). Appends are single writes under a lock, so threads of one
process do not interleave lines.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mldock.errors import UserError

__all__ = [
    "HYPERTUNE_DEFAULT_FILE",
    "HYPERTUNE_FILE",
    "HYPERTUNE_TRIAL",
    "METRICS_FILE",
    "PARAMS_FILE",
    "MetricError",
    "MetricRecord",
    "MetricsLog",
    "metric_regex",
    "read_metric_records",
    "read_metrics",
]

METRICS_FILE = "output/metrics.jsonl"
PARAMS_FILE = "output/params.json"
HYPERTUNE_FILE = "CLOUD_ML_HP_METRIC_FILE"
HYPERTUNE_TRIAL = "CLOUD_ML_TRIAL_ID"
HYPERTUNE_DEFAULT_FILE = "/tmp/hypertune/output.metrics"
LINE_PREFIX = "mldock-metric: "
PARAM_PREFIX = "mldock-param: "

_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
_MAX_PARAM_LENGTH = 1024


class MetricError(UserError):
    """A metric or parameter that cannot be reported: a bad name or a value that is not a real number."""


def metric_regex(name: str) -> str:
    """The regex SageMaker's `metric_definitions` use to read metric `name` from the log."""
    return f"{re.escape(LINE_PREFIX)}{re.escape(_checked_name(name))}=(-?inf|nan|[-+0-9.eE]+)"


@dataclass
class MetricsLog:
    """Where one run's metrics go: the base dir's output folder, stderr, and the hypertune file when tuning."""

    base_dir: Path
    hypertune_file: Path | None = None
    trial: str = "0"
    stream: IO[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_run(cls, base_dir: Path, environ: Mapping[str, str]) -> MetricsLog:
        """The log of a run with base dir `base_dir`; `environ` says whether Vertex AI tunes hyperparameters."""
        tuning = bool(environ.get(HYPERTUNE_FILE) or environ.get(HYPERTUNE_TRIAL))
        hypertune = Path(environ.get(HYPERTUNE_FILE) or HYPERTUNE_DEFAULT_FILE) if tuning else None
        return cls(base_dir, hypertune, environ.get(HYPERTUNE_TRIAL) or "0")

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Report metric `name` = `value` (at training step `step`, when given)."""
        name = _checked_name(name)
        number = _checked_value(name, value)
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
            raise MetricError(f"metric {name!r}: step must be a whole number >= 0, got {step!r}")
        shown = _format(number)
        now = time.time()
        self._say(f"{LINE_PREFIX}{name}={shown}" + (f" step={step}" if step is not None else ""))
        record = {"name": name, "value": number if math.isfinite(number) else shown, "step": step, "timestamp": now}
        self._append(self.base_dir / METRICS_FILE, json.dumps(record, sort_keys=True))
        if self.hypertune_file is not None:
            entry = {name: shown, "timestamp": now, "trial": self.trial}
            if step is not None:
                entry["global_step"] = str(step)
            self._append(self.hypertune_file, json.dumps(entry, sort_keys=True))

    def log_param(self, name: str, value: str | float | bool | None) -> None:
        """Record parameter `name` (a value of the run worth keeping beside its metrics)."""
        name = _checked_name(name)
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise MetricError(f"param {name!r}: give a string, number, bool or None, not {type(value).__name__}")
        text = json.dumps(value)
        if len(text) > _MAX_PARAM_LENGTH:
            raise MetricError(f"param {name!r}: the value is longer than {_MAX_PARAM_LENGTH} characters")
        self._say(f"{PARAM_PREFIX}{name}={text}")
        path = self.base_dir / PARAMS_FILE
        with self._lock:
            params = _read_json_object(path)
            params[name] = value
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(params, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(temporary, path)

    def _say(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def _append(self, path: Path, line: str) -> None:
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")


@dataclass(frozen=True)
class MetricRecord:
    """One reported metric: name, value (nan and inf as floats), training step (None when not given), time.

    [r.value for r in result.metrics if r.name == "loss"]
    """

    name: str
    value: float
    step: int | None = None
    timestamp: float | None = None

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> MetricRecord | None:
        """The record of one metrics.jsonl line's object; None when it is not one log_metric wrote."""
        name, value, step, timestamp = (record.get(k) for k in ("name", "value", "step", "timestamp"))
        if not isinstance(name, str) or isinstance(value, bool) or isinstance(step, bool):
            return None
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):
            value = float(value)
        if not isinstance(value, int | float) or not (step is None or (isinstance(step, int) and step >= 0)):
            return None
        when = float(timestamp) if isinstance(timestamp, int | float) and not isinstance(timestamp, bool) else None
        return cls(name, float(value), step, when)

    def to_json(self) -> dict[str, Any]:
        """The record as metrics.jsonl writes it (nan and inf as text)."""
        value: float | str = self.value if math.isfinite(self.value) else _format(self.value)
        return {"name": self.name, "value": value, "step": self.step, "timestamp": self.timestamp}


def read_metric_records(path: Path) -> list[MetricRecord]:
    """The records of the metrics.jsonl file `path`, in order ([] when there is none; lines that are not
    records are skipped)."""
    if not path.is_file():
        return []
    found: list[MetricRecord] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            loaded = json.loads(line)
        except ValueError:
            continue
        record = MetricRecord.from_json(loaded) if isinstance(loaded, dict) else None
        if record is not None:
            found.append(record)
    return found


def read_metrics(base_dir: Path) -> list[dict[str, Any]]:
    """The metrics recorded below `base_dir`, in order (lines that are not whole JSON objects are skipped: a
    run killed mid-write leaves at most one)."""
    path = base_dir / METRICS_FILE
    if not path.is_file():
        return []
    found: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            found.append(record)
    return found


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MetricError(
            f"metric name {name!r}: use 1-64 letters, digits, '_', '.', ':', '/' or '-' "
            "(SageMaker and Vertex AI read such names)"
        )
    return name


def _checked_value(name: str, value: object) -> float:
    """`value` as a float: ints, floats and numeric scalars of other libraries (numpy); no bools, no text."""
    if isinstance(value, bool | str | bytes) or value is None:
        raise MetricError(f"metric {name!r}: the value must be a real number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]  # anything with __float__
    except (TypeError, ValueError, OverflowError):
        raise MetricError(f"metric {name!r}: the value must be a real number, got {value!r}") from None


def _format(number: float) -> str:
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
