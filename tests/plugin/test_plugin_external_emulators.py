"""`--mldock-emulators=external`: the plugin uses emulators the user runs and starts none of its own; buckets
stay per test. Two users: one with `mldock emulators up` in another process (the SDK variables exported), one
whose conftest starts its own emulator container with testcontainers and hands it over."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mldock.emulators import S3Emulator
from mldock.emulators._images import MOTO_IMAGE, ensure_moto_image
from mldock.emulators._process import pick_port
from mldock.engine import connect

pytestmark = pytest.mark.integration

STARTED_RECORDER = """
import json
from pytest_mldock.state import session_state

def pytest_sessionfinish(session):
    started = [e.name for e in session_state(session.config).started]
    (session.config.rootpath / "started.json").write_text(json.dumps(started))
"""

OWN_CONTAINER = """
import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy


@pytest.fixture(scope="session")
def mldock_emulator_endpoints():
    moto = (
        DockerContainer("{image}")
        .with_exposed_ports(5000)
        .waiting_for(HttpWaitStrategy(5000, "/moto-api/data.json").with_startup_timeout(120))
    )
    with moto:
        yield {{"s3": f"http://{{moto.get_container_host_ip()}}:{{moto.get_exposed_port(5000)}}"}}
"""

USES_THE_USERS_S3 = """
import boto3
from mldock.emulators import ExternalEmulator

buckets = []

def _bucket_names(s3_emulator):
    env = s3_emulator.env()
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="x",
                          aws_secret_access_key="x", region_name="us-east-1")
    return [b["Name"] for b in client.list_buckets()["Buckets"]]

def test_one(s3_emulator, mldock_storage):
    assert isinstance(s3_emulator, ExternalEmulator)
    uri = mldock_storage.input("train", {"data.csv": b"x,y\\n1,2\\n"}, scheme="s3")
    assert mldock_storage.read(uri) == {"data.csv": b"x,y\\n1,2\\n"}
    buckets.append(uri.split("/")[2])
    assert buckets[0] in _bucket_names(s3_emulator)   # the user's emulator holds it

def test_two_gets_its_own_bucket(s3_emulator, mldock_storage):
    uri = mldock_storage.input("train", {"data.csv": b"x,y\\n3,4\\n"}, scheme="s3")
    assert uri.split("/")[2] not in buckets
    assert buckets[0] not in _bucket_names(s3_emulator)   # the first test's bucket went with it
"""


def test_a_conftest_hands_over_its_own_testcontainers_emulator(
    pytester: pytest.Pytester, sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_moto_image(connect())
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(variable, raising=False)
    # The user's own testcontainers settings for this machine (no Ryuk image can be pulled; see
    # docs/containers.md): theirs to make, in their environment.
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    pytester.makeconftest(STARTED_RECORDER + OWN_CONTAINER.format(image=MOTO_IMAGE))
    pytester.makepyfile(test_external=USES_THE_USERS_S3)
    result = pytester.runpytest_subprocess("--mldock-emulators=external", "-p", "no:randomly", "-p", "no:xdist")
    result.assert_outcomes(passed=2)
    assert json.loads((pytester.path / "started.json").read_text()) == []


def test_emulators_up_in_another_process_are_used_through_the_sdk_variables(
    pytester: pytest.Pytester, sample_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mldock = [str(Path(sys.executable).parent / "mldock")]
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "MLDOCK_CACHE_DIR": str(tmp_path / "c")}
    port = pick_port()
    up = subprocess.run(
        [*mldock, "emulators", "up", "s3", "gcs", "--port", f"s3={port}", "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        for key, value in json.loads(up.stdout)["env"].items():  # what `eval "$(mldock emulators env)"` does
            monkeypatch.setenv(key, value)
        pytester.makeini("[pytest]\nmldock_emulators = external\n")
        pytester.makeconftest(STARTED_RECORDER)
        pytester.makepyfile(
            test_external=USES_THE_USERS_S3
            + f"""

def test_the_stage_trains_against_them(s3_emulator, gcs_emulator, mldock_container):
    assert s3_emulator.endpoint_url == "http://127.0.0.1:{port}"
    result = mldock_container("train")
    result.assert_succeeded()
    assert "trained 3 epochs on 3 rows" in result.logs
"""
        )
        result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:xdist")
        result.assert_outcomes(passed=3)
        assert json.loads((pytester.path / "started.json").read_text()) == []
    finally:
        down = subprocess.run([*mldock, "emulators", "down"], env=env, capture_output=True, text=True, timeout=60)
        assert down.returncode == 0, down.stderr


def test_nothing_named_fails_the_test_saying_what_to_set(
    pytester: pytest.Pytester, sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    pytester.makepyfile(test_external="def test_gcs(gcs_emulator):\n    pass\n")
    result = pytester.runpytest("--mldock-emulators=external", "-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--mldock-emulators=external: external emulators: nothing names the gcs emulator*"])
    assert "Traceback" not in result.stdout.str()


def test_bad_endpoint_lines_in_the_ini_are_a_usage_error(pytester: pytest.Pytester, sample_project: Path) -> None:
    pytester.makeini("[pytest]\nmldock_emulators = external\nmldock_emulator_endpoints =\n    s3=localhost:9000\n")
    pytester.makepyfile(test_external="def test_s3(s3_emulator):\n    pass\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ini mldock_emulator_endpoints: 's3=localhost:9000'*is not an http*"])


def test_an_endpoint_in_the_ini_wins_over_the_sdk_variables(
    pytester: pytest.Pytester, sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a stale export: the ini line wins
    with S3Emulator() as theirs:
        pytester.makeini(
            f"[pytest]\nmldock_emulators = external\nmldock_emulator_endpoints =\n    s3={theirs.endpoint_url}\n"
        )
        pytester.makeconftest(STARTED_RECORDER)
        pytester.makepyfile(
            test_external=USES_THE_USERS_S3
            + f"""

def test_the_ini_endpoint(s3_emulator):
    assert s3_emulator.endpoint_url == "{theirs.endpoint_url}"
"""
        )
        result = pytester.runpytest("-p", "no:randomly")
        result.assert_outcomes(passed=3)
        assert theirs.bucket_names() == []  # every test's bucket went with its test
    assert json.loads((pytester.path / "started.json").read_text()) == []
