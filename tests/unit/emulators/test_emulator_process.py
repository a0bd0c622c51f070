"""The child-process helper every emulator runs on: port read-back, fast failure, log tails, clean stop."""

from __future__ import annotations

import os
import re
import sys
import time

import pytest

from mldock.emulators import EmulatorError, EmulatorStartError, EmulatorTimeoutError, wait_until
from mldock.emulators._process import EmulatorProcess, PortInUse

PORT_LINE = re.compile(r"listening on (\d+)")


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_port_is_read_back_from_the_log_and_stop_leaves_nothing() -> None:
    proc = EmulatorProcess("fake", _python("import time; print('listening on 4321', flush=True); time.sleep(60)"))
    assert proc.start(port_pattern=PORT_LINE, timeout=10) == 4321
    pid = proc.pid
    assert pid is not None
    proc.stop()
    assert _gone(pid)
    assert "listening on 4321" in proc.logs()  # still readable after stop


def test_timeout_error_carries_the_log_tail_and_kills_the_process() -> None:
    proc = EmulatorProcess("quiet", _python("import time; print('warming up...', flush=True); time.sleep(60)"))
    with pytest.raises(EmulatorTimeoutError, match="quiet listening not reached") as info:
        proc.start(port_pattern=PORT_LINE, timeout=0.5)
    assert "warming up..." in info.value.log_tail
    assert "--- emulator log (tail) ---" in str(info.value)
    assert proc.pid is None


def test_a_process_that_dies_fails_at_once_with_its_output() -> None:
    proc = EmulatorProcess("crash", _python("import sys; print('bad flag', flush=True); sys.exit(3)"))
    started = time.monotonic()
    with pytest.raises(EmulatorStartError, match="exited with code 3") as info:
        proc.start(port_pattern=PORT_LINE, timeout=30)
    assert time.monotonic() - started < 10
    assert "bad flag" in info.value.log_tail


def test_port_in_use_is_recognised_for_a_retry() -> None:
    proc = EmulatorProcess(
        "busy",
        _python("import sys; print('bind: address already in use', flush=True); sys.exit(1)"),
        in_use_pattern=re.compile("address already in use"),
    )
    with pytest.raises(PortInUse):
        proc.start(port_pattern=PORT_LINE, timeout=30)


def test_missing_executable_is_a_start_error() -> None:
    with pytest.raises(EmulatorStartError, match="cannot run"):
        EmulatorProcess("ghost", ["/nonexistent/emulator"]).start(timeout=1)


def test_wait_until_stops_at_once_on_emulator_errors() -> None:
    def check() -> bool:
        raise EmulatorStartError("dead")

    started = time.monotonic()
    with pytest.raises(EmulatorStartError):
        wait_until(check, timeout=30)
    assert time.monotonic() - started < 1


def test_wait_until_treats_other_errors_as_not_yet() -> None:
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionRefusedError
        return True

    wait_until(check, timeout=5, interval=0.01)

    def refused() -> bool:
        raise ConnectionRefusedError

    with pytest.raises(EmulatorTimeoutError, match="ConnectionRefusedError") as info:
        wait_until(refused, timeout=0.1, interval=0.01, logs=lambda: "the log")
    assert info.value.log_tail == "the log"
    assert isinstance(info.value, EmulatorError)
