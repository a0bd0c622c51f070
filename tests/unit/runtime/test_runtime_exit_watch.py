"""The training task's wait for its step process: exit status as soon as it exits, None while it runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mldock.runtime.train import _ExitWatch


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "popen-wait"])
def test_the_watch_gives_none_while_running_then_the_exit_status(pidfd: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)  # as on a system without pidfds
    child = _child("import time; time.sleep(1.0); raise SystemExit(3)")
    with _ExitWatch(child) as watch:
        assert watch.wait(0.05) is None
        assert watch.wait(30) == 3
    assert child.returncode == 3


def test_the_watch_closes_its_descriptor() -> None:
    child = _child("pass")
    before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    with _ExitWatch(child) as watch:
        assert watch.wait(30) == 0
    after = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    assert after <= before
