"""Failures: exit codes per error type, the failure file format, the step child's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from mldock.errors import AssetsError, ChannelError, LifecycleError, RemoteNotFoundError, UserError
from mldock.runtime.failure import Failure, StepReport, exit_code_for, signal_exit_code, write_failure


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        pytest.param(ValueError("x"), 1, id="user-code"),
        pytest.param(ChannelError("x"), 2, id="channel"),
        pytest.param(AssetsError("x"), 2, id="assets-is-a-user-error"),
        pytest.param(RemoteNotFoundError("x"), 3, id="storage"),
        pytest.param(LifecycleError("x"), 3, id="lifecycle"),
        pytest.param(PermissionError("x"), 1, id="os-error-in-user-code"),
    ],
)
def test_exit_codes(exc: BaseException, code: int) -> None:
    assert exit_code_for(exc) == code


def test_signal_exit_code() -> None:
    assert signal_exit_code(15) == 143


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_failure_file_has_the_reason_on_the_first_line(tmp_path: Path) -> None:
    failure = Failure.from_exception(_raised(ValueError("learning rate must be positive\nmore")), "step")
    path = tmp_path / "output" / "failure"
    write_failure(path, failure, {})
    lines = path.read_text().splitlines()
    assert lines[0] == "ValueError: learning rate must be positive"
    assert "phase: step" in lines
    assert any(line.startswith("Traceback") for line in lines)
    assert [p.name for p in path.parent.iterdir()] == ["failure"]


def test_failure_file_masks_secrets(tmp_path: Path) -> None:
    failure = Failure.from_exception(_raised(RuntimeError("cannot connect with key hunter22")), "startup")
    write_failure(tmp_path / "failure", failure, {"STORAGE_KEY": "hunter22"})
    assert "hunter22" not in (tmp_path / "failure").read_text()


def test_plain_user_errors_carry_no_traceback() -> None:
    failure = Failure.from_exception(_raised(UserError("bad")), "setup")
    assert (failure.reason, failure.details, failure.exit_code) == ("UserError: bad", "", 2)


def test_empty_message_gives_the_type_name() -> None:
    assert Failure.from_exception(_raised(KeyError()), "step").reason == "KeyError"


def test_step_report_round_trip(tmp_path: Path) -> None:
    report = StepReport.from_exception(_raised(ChannelError("nope")))
    report.write(tmp_path / "report.json")
    assert StepReport.read(tmp_path / "report.json") == report
    assert report.to_failure("step").exit_code == 2
    assert StepReport.from_exception(_raised(ValueError("x"))).to_failure("step").exit_code == 1


@pytest.mark.parametrize(
    "content", [pytest.param(None, id="missing"), pytest.param("{", id="broken"), pytest.param("{}", id="keys")]
)
def test_unreadable_step_reports_are_none(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "r.json").write_text(content)
    assert StepReport.read(tmp_path / "r.json") is None
