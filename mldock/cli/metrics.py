"""`mldock metrics [RUN]`: the metrics a training run reported, per metric (reports, steps, last, min, max).

    $ mldock metrics                         # the latest run in ./.mldock/runs that reported metrics
    $ mldock metrics dev-20261203-101500     # a run by its folder name (or a path to a run folder)
    $ mldock metrics --json

`mldock run train` keeps what the task reported with env.log_metric in its run folder: `metrics.jsonl` (the
records) and `metrics.html` (a line chart per metric, mldock.cli.metrics_plot); `save_run_metrics` writes both.
min and max leave nan and inf out; `last` is the last value reported, whatever it is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from mldock.cli.common import emit_json, json_errors, json_option, out
from mldock.cli.metrics_plot import render_html, series
from mldock.errors import UserError
from mldock.runtime.metrics import MetricRecord, read_metric_records

__all__ = ["METRICS_HTML", "METRICS_JSONL", "MetricSummary", "metrics_command", "save_run_metrics", "summarize"]

RUNS_DIR = Path(".mldock", "runs")
METRICS_JSONL = "metrics.jsonl"
METRICS_HTML = "metrics.html"


@dataclass(frozen=True)
class MetricSummary:
    """One metric of a run: how often it was reported, over which steps, its last, smallest and largest value."""

    name: str
    reports: int
    first_step: int | None
    last_step: int | None
    last: float
    min: float | None
    max: float | None

    def to_json(self) -> dict[str, Any]:
        """JSON-safe: nan and inf as text."""
        return {
            "name": self.name,
            "reports": self.reports,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "last": _json_number(self.last),
            "min": None if self.min is None else _json_number(self.min),
            "max": None if self.max is None else _json_number(self.max),
        }


def summarize(records: list[MetricRecord]) -> list[MetricSummary]:
    """One summary per metric, in the order the metrics were first reported."""
    summaries = []
    for name, reports in series(records).items():
        finite = [r.value for r in reports if math.isfinite(r.value)]
        steps = [r.step for r in reports if r.step is not None]
        summaries.append(
            MetricSummary(
                name=name,
                reports=len(reports),
                first_step=min(steps) if steps else None,
                last_step=max(steps) if steps else None,
                last=reports[-1].value,
                min=min(finite) if finite else None,
                max=max(finite) if finite else None,
            )
        )
    return summaries


def save_run_metrics(run_dir: Path, records: list[MetricRecord]) -> Path | None:
    """Write `records` into the run folder `run_dir` (metrics.jsonl and metrics.html); the page's path, or None
    (nothing written) when there are no records."""
    if not records:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in records)
    (run_dir / METRICS_JSONL).write_text(lines, encoding="utf-8")
    page = run_dir / METRICS_HTML
    page.write_text(render_html(records, run_dir.name), encoding="utf-8")
    return page


def find_run(run: str | None, runs_dir: Path) -> Path:
    """The run folder `run` names (a folder name in `runs_dir` or a path), or the latest one with metrics.

    UserError when there is no such run, or it reported no metrics.
    """
    if run is None:
        candidates = [p for p in runs_dir.glob(f"*/{METRICS_JSONL}") if p.is_file()] if runs_dir.is_dir() else []
        if not candidates:
            raise UserError(
                f"no run with metrics in {runs_dir} (mldock run train keeps a run's metrics there when its "
                "step calls env.log_metric)"
            )
        return max(candidates, key=lambda p: (p.stat().st_mtime, p.parent.name)).parent
    folder = Path(run) if Path(run).is_dir() else runs_dir / run
    if not folder.is_dir():
        known = sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
        raise UserError(f"no run {run!r} in {runs_dir}; runs: {', '.join(known) or 'none'}")
    if not (folder / METRICS_JSONL).is_file():
        raise UserError(f"run {folder.name!r} reported no metrics (no {METRICS_JSONL} in {folder})")
    return folder


@click.command("metrics")
@click.argument("run", required=False)
@click.option(
    "--runs-dir",
    default=str(RUNS_DIR),
    show_default=True,
    metavar="DIR",
    help="Where mldock run keeps its run folders.",
)
@json_option
def metrics_command(run: str | None, runs_dir: str, as_json: bool) -> None:
    """Show the metrics a training run reported: per metric the reports, steps, last, min and max value.

    RUN is a run folder's name in --runs-dir or a path to one; without it, the latest run that reported metrics.
    The run folder's metrics.html has a chart of each metric over its steps.
    """
    with json_errors(as_json):
        folder = find_run(run, Path(runs_dir))
        summaries = summarize(read_metric_records(folder / METRICS_JSONL))
    page = folder / METRICS_HTML
    if as_json:
        emit_json(
            {
                "ok": True,
                "run": folder.name,
                "run_dir": str(folder.resolve()),
                "chart": str(page.resolve()) if page.is_file() else None,
                "metrics": [s.to_json() for s in summaries],
            }
        )
        return
    _print(folder, summaries, page)


def _print(folder: Path, summaries: list[MetricSummary], page: Path) -> None:
    from rich.table import Table

    table = Table(title=f"metrics of run {folder.name}", title_justify="left")
    for column in ("metric", "reports", "steps", "last", "min", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for s in summaries:
        steps = "-" if s.first_step is None else f"{s.first_step}-{s.last_step}"
        table.add_row(s.name, str(s.reports), steps, _shown(s.last), _shown(s.min), _shown(s.max))
    console = out()
    console.print(table)
    if page.is_file():
        console.print(f"chart: {page}", markup=False)


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
