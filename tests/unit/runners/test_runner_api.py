"""The public surface of mldock.runners: get_runner, exports, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mldock.runners as runners
from mldock.errors import UserError
from mldock.runners.process import ProcessRunner


def test_get_runner_by_name() -> None:
    runner = runners.get_runner("process", grace=5)
    assert isinstance(runner, ProcessRunner)
    assert runner.name == "process"
    assert runner.grace == 5
    docker_runner = runners.get_runner("docker", image="localhost/x:y")
    assert docker_runner.name == "docker"


def test_unknown_runner_is_a_user_error() -> None:
    with pytest.raises(UserError, match="choose one of: docker, process"):
        runners.get_runner("kubernetes")


def test_all_is_exported() -> None:
    for name in runners.__all__:
        assert getattr(runners, name) is not None, name


def test_docker_py_is_not_imported_by_the_package_or_the_process_runner() -> None:
    code = (
        "import sys, mldock.runners, mldock.runners.process;"
        "sys.exit(1 if any(m == 'docker' or m.startswith('docker.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(("returncode", "expected"), [(0, 0), (1, 1), (143, 143), (-15, 143), (-9, 137)])
def test_process_exit_codes_are_shell_style(returncode: int, expected: int) -> None:
    from mldock.runners.process import _exit_code

    assert _exit_code(returncode) == expected
