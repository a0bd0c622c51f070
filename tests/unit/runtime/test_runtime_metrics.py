"""Metrics reach every place a platform reads them: the log line, metrics.jsonl, the hypertune file."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.runtime.metrics import MetricError, MetricsLog, metric_regex, read_metrics


def _log(tmp_path: Path, environ: dict[str, str] | None = None) -> tuple[MetricsLog, io.StringIO]:
    stream = io.StringIO()
    log = MetricsLog.for_run(tmp_path / "base", environ or {})
    log.stream = stream
    return log, stream


def test_a_metric_goes_to_the_log_line_and_metrics_jsonl(tmp_path: Path) -> None:
    log, stream = _log(tmp_path)
    log.log_metric("train:loss", 0.25, step=3)
    log.log_metric("accuracy", 1)
    assert stream.getvalue().splitlines() == ["mldock-metric: train:loss=0.25 step=3", "mldock-metric: accuracy=1.0"]
    records = read_metrics(tmp_path / "base")
    assert [(r["name"], r["value"], r["step"]) for r in records] == [("train:loss", 0.25, 3), ("accuracy", 1.0, None)]
    assert not (tmp_path / "hypertune").exists()


def test_sagemakers_regex_reads_the_line_back(tmp_path: Path) -> None:
    log, stream = _log(tmp_path)
    for value in (0.5, -1e-07, 12345678901.0, float("nan"), float("-inf")):
        log.log_metric("val/acc", value)
    found = re.findall(metric_regex("val/acc"), stream.getvalue())
    assert found == ["0.5", "-1e-07", "12345678901.0", "nan", "-inf"]


def test_under_vertex_tuning_the_hypertune_file_gets_cloudml_hypertunes_line(tmp_path: Path) -> None:
    target = tmp_path / "hp" / "output.metrics"
    log, _ = _log(tmp_path, {"CLOUD_ML_HP_METRIC_FILE": str(target), "CLOUD_ML_TRIAL_ID": "7"})
    log.log_metric("auc", 0.75, step=10)
    entry = json.loads(target.read_text())
    assert entry["auc"] == "0.75"
    assert entry["global_step"] == "10"
    assert entry["trial"] == "7"


@pytest.mark.parametrize(
    ("name", "value", "step"),
    [
        pytest.param("", 1.0, None, id="empty-name"),
        pytest.param("has space", 1.0, None, id="space"),
        pytest.param("x" * 65, 1.0, None, id="long"),
        pytest.param("ok", "0.5", None, id="string-value"),
        pytest.param("ok", True, None, id="bool-value"),
        pytest.param("ok", None, None, id="none-value"),
        pytest.param("ok", 10**400, None, id="huge-int"),
        pytest.param("ok", 1.0, -1, id="negative-step"),
        pytest.param("ok", 1.0, 1.5, id="float-step"),
    ],
)
def test_bad_metrics_are_user_errors_naming_the_metric(
    tmp_path: Path, name: object, value: object, step: object
) -> None:
    log, _ = _log(tmp_path)
    with pytest.raises(MetricError):
        log.log_metric(name, value, step=step)  # type: ignore[arg-type]


def test_params_are_kept_in_params_json(tmp_path: Path) -> None:
    log, stream = _log(tmp_path)
    log.log_param("optimizer", "adam")
    log.log_param("layers", 3)
    assert json.loads((tmp_path / "base" / "output" / "params.json").read_text()) == {"layers": 3, "optimizer": "adam"}
    assert 'mldock-param: optimizer="adam"' in stream.getvalue()
    with pytest.raises(MetricError):
        log.log_param("blob", "x" * 2000)


def test_threads_do_not_interleave_lines(tmp_path: Path) -> None:
    log, _ = _log(tmp_path)

    def report(n: int) -> None:
        for step in range(50):
            log.log_metric(f"m{n}", step / 7, step=step)

    threads = [threading.Thread(target=report, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read_metrics(tmp_path / "base")) == 200


@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_value_round_trips_through_the_log_line(value: float) -> None:
    stream = io.StringIO()
    log = MetricsLog(Path("/nonexistent-base-dir-never-written"), stream=stream)
    log._append = lambda path, line: None  # type: ignore[method-assign]  # no files: the line is the subject
    log.log_metric("m", value)
    (found,) = re.findall(metric_regex("m"), stream.getvalue())
    assert float(found) == value
