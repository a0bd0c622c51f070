"""What a test's report carries about its container runs: a "mldock container logs" section per run.

    record(item, "train", result.logs)              # called by mldock_container after each run
    attach_sections(item, report)                   # called by the makereport hook for each phase

Sections appear under a failing test (and under passing ones with `-rP`), and in JUnit XML as system-out.
Logs are recorded already masked by the runner; they are masked again here against the variables given.

The secrets of every run a test started (`remember_secrets(item, variables)`: the variables and hyperparameters
its tasks got) are masked in the whole of the test's report too: the failure's traceback and message (also
with `--showlocals`), captured output and every section, so neither the terminal report nor JUnit XML shows
one, whoever printed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from mldock.runtime.redact import Redactor, secret_values

__all__ = ["RUNS_KEY", "RunLog", "attach_sections", "describe_failure", "note", "record", "remember_secrets"]

_MAX_SECTION_LINES = 400


@dataclass
class RunLog:
    """The logs of one run, and whether a report has shown them yet."""

    title: str
    text: str
    shown: bool = False
    section: str = "mldock container logs"


@dataclass
class _Runs:
    logs: list[RunLog] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    def mask(self, text: str) -> str:
        return Redactor(self.secrets)(text) if self.secrets else text


RUNS_KEY = pytest.StashKey[_Runs]()


def remember_secrets(item: pytest.Item, environ: Mapping[str, str]) -> None:
    """Mask every secret of `environ` (a run's variables, hyperparameters as MLDOCK_HYPERPARAMETERS) in
    `item`'s report."""
    runs = item.stash.setdefault(RUNS_KEY, _Runs())
    runs.secrets |= secret_values(environ)


def record(item: pytest.Item, title: str, logs: str, environ: Mapping[str, str] | None = None) -> None:
    """Remember `logs` of a run of `item` (secrets of `environ` and of earlier runs masked) for its report."""
    if environ:
        remember_secrets(item, environ)
    runs = item.stash.setdefault(RUNS_KEY, _Runs())
    runs.logs.append(RunLog(title=f"{title} #{len(runs.logs) + 1}", text=runs.mask(logs)))


def note(item: pytest.Item, text: str) -> None:
    """Add a line to the "mldock storage" section of `item`'s report (what the storage helper did)."""
    runs = item.stash.setdefault(RUNS_KEY, _Runs())
    runs.logs.append(RunLog(title="notes", text=text, section="mldock storage"))


def attach_sections(item: pytest.Item, report: pytest.TestReport) -> None:
    """Add every run not yet shown as a report section "mldock container logs (<task> #n)"."""
    runs = item.stash.get(RUNS_KEY, None)
    if runs is None:
        return
    for run in runs.logs:
        if run.shown:
            continue
        run.shown = True
        report.sections.append((f"{run.section} ({run.title})", _tail(run.text) or "(no output)"))
    if runs.secrets:
        _mask_report(report, runs)


def _mask_report(report: pytest.TestReport, runs: _Runs) -> None:
    """The report's traceback/message and sections with the runs' secrets masked (the longrepr becomes plain
    text only when it held one)."""
    if report.longrepr is not None:
        text = str(report.longrepr)
        masked = runs.mask(text)
        if masked != text:
            report.longrepr = masked
    report.sections = [(title, runs.mask(content)) for title, content in report.sections]


def describe_failure(headline: str, description: str, extra: Mapping[str, str] | None = None) -> str:
    """An assertion message: the headline, the run's description (outcome, failure file, log tail,
    masked environment), then any extra sections."""
    parts = [headline, description]
    for name, text in (extra or {}).items():
        parts.append(f"--- {name} ---\n{text}")
    return "\n".join(parts)


def _tail(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= _MAX_SECTION_LINES:
        return text.rstrip("\n")
    dropped = len(lines) - _MAX_SECTION_LINES
    return "\n".join([f"[... {dropped} earlier lines not shown ...]", *lines[-_MAX_SECTION_LINES:]])
