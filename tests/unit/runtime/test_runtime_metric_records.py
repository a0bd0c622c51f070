"""Reading metrics back: MetricRecord values from metrics.jsonl, their summary and the HTML chart page."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mldock.cli.metrics import save_run_metrics, summarize
from mldock.cli.metrics_plot import render_html
from mldock.runtime.metrics import METRICS_FILE, MetricRecord, MetricsLog, read_metric_records

_names = st.from_regex(r"[A-Za-z0-9_.:/-]{1,64}", fullmatch=True)
_values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**12), 10**12)


@given(st.lists(st.tuples(_names, _values, st.none() | st.integers(0, 10**6)), max_size=20))
def test_what_log_metric_writes_reads_back_as_records(reports: list[tuple[str, float, int | None]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        log = MetricsLog(Path(folder), stream=io.StringIO())
        for name, value, step in reports:
            log.log_metric(name, value, step)
        records = read_metric_records(Path(folder) / METRICS_FILE)
    assert [(r.name, r.step) for r in records] == [(name, step) for name, _, step in reports]
    for record, (_, value, _) in zip(records, reports, strict=True):
        assert (math.isnan(record.value) and math.isnan(value)) or record.value == float(value)
        assert record.timestamp is not None


def test_lines_that_are_not_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        '{"name": "a", "value": 1, "step": 2}\n'
        "not json\n"
        '{"name": "b", "value": "high"}\n'
        '{"name": "c", "value": true}\n'
        '{"name": "d", "value": 1, "step": -1}\n'
        "[1, 2]\n"
        '{"name": "e", "value": "-inf", "step": null, "timestamp": 5}\n'
        '{"name": "f", "value": 2'  # a line cut short by a kill
    )
    records = read_metric_records(path)
    assert [(r.name, r.value, r.step, r.timestamp) for r in records] == [
        ("a", 1.0, 2, None),
        ("e", -math.inf, None, 5.0),
    ]
    assert read_metric_records(tmp_path / "absent.jsonl") == []


def test_summary_per_metric_in_first_report_order() -> None:
    records = [
        MetricRecord("loss", 0.5, 1),
        MetricRecord("acc", 0.7),
        MetricRecord("loss", math.nan, 2),
        MetricRecord("loss", 0.25, 3),
        MetricRecord("acc", 0.9),
        MetricRecord("gone", math.inf, 7),
    ]
    summaries = {s.name: s for s in summarize(records)}
    assert list(summaries) == ["loss", "acc", "gone"]
    loss = summaries["loss"]
    assert (loss.reports, loss.first_step, loss.last_step, loss.last, loss.min, loss.max) == (3, 1, 3, 0.25, 0.25, 0.5)
    acc = summaries["acc"]
    assert (acc.first_step, acc.last, acc.min, acc.max) == (None, 0.9, 0.7, 0.9)
    assert summaries["gone"].to_json() == {
        "name": "gone", "reports": 1, "first_step": 7, "last_step": 7, "last": "inf", "min": None, "max": None,
    }  # fmt: skip


def test_the_page_has_one_chart_per_metric_and_escapes_names() -> None:
    page = render_html(
        [
            MetricRecord("a<b", 1.0, 1),
            MetricRecord("a<b", 3.0, 2),
            MetricRecord("flat", 2.0),
            MetricRecord("x", math.nan),
        ],
        "run <1>",
    )
    assert page.count("<svg") == 2  # "x" has nothing to draw
    assert "<h2>a&lt;b</h2>" in page
    assert "metrics of run &lt;1&gt;" in page
    assert "<script" not in page
    assert "1 nan/inf value not drawn" in page
    assert "x: step" in page
    assert "x: report" in page
    points = re.findall(r'<polyline points="([^"]+)"', page)[0].split()
    (x1, y1), (x2, y2) = (tuple(map(float, p.split(","))) for p in points)
    assert x1 < x2
    assert y1 > y2  # the larger value is drawn higher


def test_no_records_write_nothing(tmp_path: Path) -> None:
    assert save_run_metrics(tmp_path / "run", []) is None
    assert not (tmp_path / "run").exists()
    page = save_run_metrics(tmp_path / "run", [MetricRecord("loss", 1.0, 1)])
    assert page == tmp_path / "run" / "metrics.html"
    assert [r.name for r in read_metric_records(tmp_path / "run" / "metrics.jsonl")] == ["loss"]
