"""`mldock emulators up|env|down` as processes: a background daemon, a state file, exports that work, fixed
ports on request."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import Mldock, assert_plain_error

from mldock.emulators._process import pick_port
from mldock.emulators.azure import find_azurite

pytestmark = pytest.mark.integration


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_env_down(mldock: Mldock, tmp_path: Path) -> None:
    env = {"MLDOCK_CACHE_DIR": str(tmp_path / "cache"), "MLDOCK_AZURITE_BIN": str(find_azurite())}
    state_file = tmp_path / "cache" / "emulators.json"
    up = mldock("emulators", "up", "--json", env=env)
    assert up.returncode == 0, up.stderr
    state = json.loads(up.stdout)
    pid = state["pid"]
    try:
        assert set(state["emulators"]) == {"s3", "gcs", "azure"}
        assert state_file.is_file()
        for info in state["emulators"].values():
            assert _answers(info["endpoint_url"]), info
        assert state["env"]["AWS_ENDPOINT_URL"] == state["emulators"]["s3"]["endpoint_url"]
        assert "STORAGE_EMULATOR_HOST" in state["env"]
        assert "AZURE_STORAGE_CONNECTION_STRING" in state["env"]

        exports = mldock("emulators", "env", env=env)
        assert exports.returncode == 0, exports.stderr
        lines = exports.stdout.splitlines()
        assert f"export AWS_ENDPOINT_URL={state['env']['AWS_ENDPOINT_URL']}" in lines
        assert all(line.startswith("export ") for line in lines)

        again = mldock("emulators", "up", "s3", env=env)
        assert_plain_error(again, 2, "emulators already run", "mldock emulators down")
    finally:
        down = mldock("emulators", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert f"(pid {pid})" in down.stdout
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
    assert not state_file.exists()
    for info in state["emulators"].values():
        assert not _answers(info["endpoint_url"]), info
    assert_plain_error(mldock("emulators", "env", env=env), 2, "no emulators are running")


def test_up_some_and_a_stale_state_file_is_ignored(mldock: Mldock, tmp_path: Path) -> None:
    env = {"MLDOCK_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "emulators.json").write_text(json.dumps({"pid": 2**22 + 7, "emulators": {}}))
    up = mldock("emulators", "up", "s3", "gcs", env=env)
    assert up.returncode == 0, up.stderr
    try:
        assert up.stdout.startswith("# started s3 at http://127.0.0.1:")
        assert "STORAGE_EMULATOR_HOST" in up.stdout
        assert "AZURE_STORAGE_CONNECTION_STRING" not in up.stdout
    finally:
        state = json.loads((tmp_path / "cache" / "emulators.json").read_text())
        down = mldock("emulators", "down", "--json", env=env)
    assert json.loads(down.stdout) == {"emulators": ["s3", "gcs"], "pid": state["pid"], "stopped": True}


def test_the_daemon_stops_its_emulators_on_sigterm(mldock: Mldock, tmp_path: Path) -> None:
    env = {"MLDOCK_CACHE_DIR": str(tmp_path / "cache")}
    up = mldock("emulators", "up", "s3", "--json", env=env)
    assert up.returncode == 0, up.stderr
    state = json.loads(up.stdout)
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 20
    while (tmp_path / "cache" / "emulators.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (tmp_path / "cache" / "emulators.json").exists()
    assert not _answers(state["emulators"]["s3"]["endpoint_url"])


def test_up_on_a_fixed_port(mldock: Mldock, tmp_path: Path) -> None:
    env = {"MLDOCK_CACHE_DIR": str(tmp_path / "cache")}
    port = pick_port()
    up = mldock("emulators", "up", "s3", "gcs", "--port", f"s3={port}", "--json", env=env)
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads(up.stdout)
        assert state["env"]["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        assert _answers(f"http://127.0.0.1:{port}/moto-api/data.json")
        assert state["emulators"]["gcs"]["endpoint_url"] != f"http://127.0.0.1:{port}"
    finally:
        down = mldock("emulators", "down", env=env)
    assert down.returncode == 0, down.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--port", "s3"), "--port 's3': expected NAME=PORT"),
        (("--port", "s4=9000"), "--port 's4=9000': expected NAME=PORT"),
        (("--port", "s3=99999"), "PORT 1-65535"),
        (("--port", "s3=http"), "PORT 1-65535"),
        (("gcs", "--port", "s3=9000"), "the s3 emulator is not among those started (gcs)"),
        (("--port", "s3=9000", "--port", "s3=9001"), "a port for s3 is given twice"),
    ],
    ids=["no-port", "unknown-name", "out-of-range", "not-a-number", "not-started", "twice"],
)
def test_up_refuses_a_bad_port_by_name(mldock: Mldock, tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    env = {"MLDOCK_CACHE_DIR": str(tmp_path / "cache")}
    assert_plain_error(mldock("emulators", "up", *args, env=env), 2, fragment)
    assert not (tmp_path / "cache" / "emulators.json").exists()
