"""The process runner through the real entrypoint in a subprocess, with file:// channels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from runner_project import seed_files, tree

from mldock.errors import RunnerError
from mldock.project.config import ProjectConfig
from mldock.runners import RunSpec, get_runner
from mldock.runners.process import ProcessRunner

pytestmark = pytest.mark.integration


def _channels(tmp_path: Path) -> tuple[dict[str, str], dict[str, bytes], Path, Path]:
    source = tmp_path / "remote" / "train"
    files = seed_files(source)
    out = tmp_path / "remote" / "out"
    models = tmp_path / "remote" / "models"
    env = {
        "MLDOCK_INPUT_CHANNEL_TRAIN": source.as_uri(),
        "MLDOCK_OUTPUT_CHANNEL_COPIED": out.as_uri(),
        "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": models.as_uri(),
        "MY_API_TOKEN": "tok-123456-secret",
    }
    return env, files, out, models


def test_train_success_downloads_and_uploads(project: ProjectConfig, tmp_path: Path) -> None:
    env, files, out, models = _channels(tmp_path)
    lines: list[str] = []
    with ProcessRunner(log=lines.append) as runner:
        result = runner.run(
            RunSpec(project, project.stage("test"), environment=env, hyperparameters={"copy": {"train": "copied"}})
        )
        result.assert_succeeded()
        assert result.base_dir is not None
        assert tree(result.base_dir / "output" / "copied") == files
        base_dir = result.base_dir
    assert not base_dir.exists(), "the runner removes its base dirs at the end of `with`"
    assert tree(out) == files
    params = json.loads((models / "params.json").read_text())
    assert params == {"copy": {"train": "copied"}, "scale": 3}
    assert "training in stage test" in result.logs
    assert any("training done" in line for line in lines), "output is streamed line by line"
    assert result.environment["MLDOCK_STAGE"] == "test"
    assert result.environment["MLDOCK_GREETING"] == "hello"
    assert result.environment["MY_API_TOKEN"] == "***"
    assert "tok-123456-secret" not in result.describe()
    assert result.failure is None
    assert result.duration > 0


def test_train_against_a_host_emulator(project: ProjectConfig, tmp_path: Path) -> None:
    """A host process reaches host-process emulators with their env() as is."""
    from mldock.emulators import S3Emulator

    files = seed_files(tmp_path / "seed")
    with S3Emulator() as s3:
        client = s3.client()
        client.create_bucket(Bucket="data")
        for rel, data in files.items():
            client.put_object(Bucket="data", Key=f"train/{rel}", Body=data)
        env = {"MLDOCK_INPUT_CHANNEL_TRAIN": "s3://data/train", "MLDOCK_OUTPUT_CHANNEL_COPIED": "s3://data/out"}
        with ProcessRunner() as runner:
            result = runner.run(
                RunSpec(
                    project,
                    project.stage("test"),
                    environment=env,
                    hyperparameters={"copy": {"train": "copied"}},
                    emulators=[s3],
                )
            )
        result.assert_succeeded()
        assert result.environment["AWS_ENDPOINT_URL"] == s3.endpoint_url
        got = {
            obj["Key"][len("out/") :]: client.get_object(Bucket="data", Key=obj["Key"])["Body"].read()
            for obj in client.list_objects_v2(Bucket="data", Prefix="out/")["Contents"]
        }
    assert got == files


def test_train_failure_surfaces_failure_file_and_exit_code(project: ProjectConfig, tmp_path: Path) -> None:
    env, _, _, _ = _channels(tmp_path)
    runner = get_runner("process")
    result = runner.run(RunSpec(project, project.stage("test"), environment=env, hyperparameters={"mode": "fail"}))
    assert not result.succeeded
    assert result.exit_code == 1
    assert result.failure is not None
    assert "deliberate failure" in result.failure
    result.assert_failed(match="deliberate failure")
    assert not result.timed_out


def test_timeout_stops_the_task_and_says_so(project: ProjectConfig, tmp_path: Path) -> None:
    runner = ProcessRunner(grace=10)
    started = time.monotonic()
    result = runner.run(RunSpec(project, project.stage("test"), hyperparameters={"mode": "sleep"}, timeout=3))
    assert result.timed_out
    assert not result.succeeded
    assert "timed out after 3s" in result.logs
    assert "timed out" in result.describe()
    assert time.monotonic() - started < 60
    runner.cleanup()


def test_inherited_mldock_variables_do_not_leak(project: ProjectConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLDOCK_HYPERPARAMETERS", '{"mode": "fail"}')
    monkeypatch.setenv("MLDOCK_BASE_DIR", "/nonexistent")
    with ProcessRunner() as runner:
        result = runner.run(RunSpec(project, project.stage("test")))
        result.assert_succeeded()


def test_serve_ping_and_invocations(project: ProjectConfig) -> None:
    runner = ProcessRunner(grace=10)
    with runner.serve(RunSpec(project, project.stage("test"), task="serve")) as endpoint:
        assert endpoint.ping() == 200
        response = endpoint.invoke({"x": [1, 2]})
        assert response.status == 200, response.text
        assert response.json() == {"y": [3.0, 6.0]}
        assert "predictor loaded in stage test" in endpoint.logs()
        url = endpoint.url
    with pytest.raises(RunnerError):
        endpoint.invoke({"x": [1]})
    assert url.startswith("http://127.0.0.1:")
    runner.cleanup()


def test_serve_that_never_gets_healthy_raises_with_logs(project: ProjectConfig) -> None:
    (project.root / "predictor.py").write_text("raise ImportError('no model here')\n")
    runner = ProcessRunner()
    with pytest.raises(RunnerError, match=r"exited with code \d+(.|\n)*no model here"), runner.serve(
        RunSpec(project, project.stage("test"), task="serve"), ready_timeout=60
    ):
        pass
    runner.cleanup()


def test_killed_parent_takes_the_task_with_it(project: ProjectConfig, tmp_path: Path) -> None:
    """A test session killed outright leaves no task process behind."""
    pid_file = tmp_path / "task.pid"
    (project.root / "trainer.py").write_text(
        textwrap.dedent(
            f"""
            import os, time
            def train(env):
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
                time.sleep(600)
            """
        )
    )
    script = textwrap.dedent(
        f"""
        from mldock.project.config import load_project
        from mldock.runners import RunSpec, get_runner
        project = load_project({str(project.root)!r})
        get_runner("process").run(RunSpec(project, project.stage("test")))
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the task never started"
            assert parent.poll() is None, "the runner process died early"
            time.sleep(0.1)
        task_pid = int(pid_file.read_text())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30
    while _alive(task_pid):
        assert time.monotonic() < deadline, f"task {task_pid} outlived its killed runner"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
