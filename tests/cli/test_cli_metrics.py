"""`mldock run train` keeps the metrics a step reports (metrics.jsonl, metrics.html); `mldock metrics` shows them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import Mldock, assert_plain_error

pytestmark = pytest.mark.integration

TRAINER = """
def train(env):
    epochs = env.hyperparameters.get("epochs", int)
    if env.hyperparameters.get("silent", bool, default=False):
        return
    for step in range(1, epochs + 1):
        env.log_metric("loss", 1 / 2**step, step=step)
        env.log_metric("val/accuracy", 0.5 + step / 10, step=step)
    env.log_metric("val/accuracy", float("nan"), step=epochs + 1)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    config = {"name": "metrics-demo", "train": "trainer:train", "stages": {"dev": {"hyperparameters": {"epochs": 3}}}}
    (root / "mldock.json").write_text(json.dumps(config))
    (root / "trainer.py").write_text(TRAINER)
    return root


def test_run_saves_the_metrics_and_mldock_metrics_shows_the_latest_run(
    mldock: Mldock, project: Path, tmp_path: Path
) -> None:
    ran = mldock("run", "train", "--project", str(project), "--runner", "process", "--json")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["metrics"]["reports"] == 7
    run_dir = Path(summary["output_dir"])
    assert run_dir.parent == (tmp_path / ".mldock" / "runs").resolve()
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["name"], r["step"]) for r in records][:2] == [("loss", 1), ("val/accuracy", 1)]
    assert records[-1]["value"] == "nan"

    page = (run_dir / "metrics.html").read_text()
    assert Path(summary["metrics"]["chart"]) == run_dir / "metrics.html"
    assert page.count("<svg") == 2
    assert "<h2>loss</h2>" in page
    assert "<h2>val/accuracy</h2>" in page
    assert "1 nan/inf value not drawn" in page
    assert not re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", page)  # self-contained

    shown = mldock("metrics", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["run"] == run_dir.name
    assert report["metrics"] == [
        {"name": "loss", "reports": 3, "first_step": 1, "last_step": 3, "last": 0.125, "min": 0.125, "max": 0.5},
        {"name": "val/accuracy", "reports": 4, "first_step": 1, "last_step": 4, "last": "nan", "min": 0.6,
         "max": 0.8},
    ]  # fmt: skip

    table = mldock("metrics", run_dir.name)
    assert table.returncode == 0, table.stderr
    assert re.search(r"loss\s.*3\s.*1-3\s.*0\.125\s.*0\.125\s.*0\.5", table.stdout), table.stdout
    assert re.search(r"val/accuracy\s.*4\s.*1-4\s.*nan\s.*0\.6\s.*0\.8", table.stdout), table.stdout
    assert "metrics.html" in table.stdout


def test_a_run_without_metrics_writes_no_chart(mldock: Mldock, project: Path, tmp_path: Path) -> None:
    out = tmp_path / "quiet-run"
    ran = mldock("run", "train", "--project", str(project), "--runner", "process", "--json", "-o", str(out),
                 "-p", "silent=true")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "metrics" not in json.loads(ran.stdout)
    assert not (out / "metrics.html").exists()


def test_unknown_run_and_no_runs_are_plain_errors(mldock: Mldock, tmp_path: Path) -> None:
    assert_plain_error(mldock("metrics"), 2, "no run with metrics in .mldock/runs")
    (tmp_path / ".mldock" / "runs" / "dev-1").mkdir(parents=True)
    assert_plain_error(mldock("metrics", "nope"), 2, "no run 'nope' in .mldock/runs; runs: dev-1")
    assert_plain_error(mldock("metrics", "dev-1"), 2, "run 'dev-1' reported no metrics")
    as_json = mldock("metrics", "nope", "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["ok"] is False
