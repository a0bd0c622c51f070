"""`mldock submit --platform sagemaker` end to end against moto's SageMaker API: the real CLI in a process,
boto3's standard chain pointed at moto by AWS_ENDPOINT_URL; then `mldock status JOB`.

What moto does not do: run the image. It stores the CreateTrainingJob request and reports the job Completed,
which is what these tests read back (the request as SageMaker received it, the status as the CLI prints it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sklearn-train"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/sklearn-train@sha256:" + "ef" * 32
ROLE = "arn:aws:iam::123456789012:role/mldock-training"
FAKE_SECRET = "moto-fake-secret-key"
HYPERPARAMETERS = {"n_estimators": "20", "max_depth": "4", "test_size": "0.25", "random_state": "0"}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """The variables the mldock process gets (passed to it, never written into this process's environment)."""
    return {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example, copied: `mldock submit` records the job below the project's .mldock/."""
    target = tmp_path / "sklearn-train"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".mldock", "build", "__pycache__"))
    return target


def mldock(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mldock.cli.main", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sagemaker(endpoint: str) -> Any:
    return boto3.client(
        "sagemaker",
        region_name="eu-west-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key=FAKE_SECRET,
    )


def test_submit_prints_the_job_and_status_follows_it(
    project: Path, aws_env: dict[str, str], moto_endpoint: str
) -> None:
    submitted = mldock(
        "submit", "--platform", "sagemaker", "--stage", "test", "--project", str(project), "--image", IMAGE,
        "--set", f"role_arn={ROLE}", "--set", "region=eu-west-1", "--instance-count", "2",
        env=aws_env,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip()
    assert job.startswith("sklearn-train-test-")
    assert f"arn: arn:aws:sagemaker:eu-west-1:123456789012:training-job/{job}" in submitted.stderr

    received = sagemaker(moto_endpoint).describe_training_job(TrainingJobName=job)
    assert received["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert received["RoleArn"] == ROLE
    assert received["ResourceConfig"]["InstanceCount"] == 2
    assert received["OutputDataConfig"]["S3OutputPath"] == "s3://wine-models/model"
    assert received["HyperParameters"] == HYPERPARAMETERS
    assert "Environment" not in received  # moto stores the request's Environment but does not describe it
    assert FAKE_SECRET not in json.dumps(received, default=str)
    assert FAKE_SECRET not in submitted.stdout + submitted.stderr

    status = mldock("status", job, "--project", str(project), env=aws_env)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"{job}: Completed")
    assert f"model_artifacts: s3://wine-models/model/{job}/output/model.tar.gz" in status.stdout

    waited = mldock("status", job, "--project", str(project), "--wait", "--interval", "1", env=aws_env)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.startswith(f"{job}: Completed")

    as_json = mldock("status", job, "--project", str(project), "--json", env=aws_env)
    assert json.loads(as_json.stdout)["status"] == "Completed"
    record = json.loads(next((project / ".mldock" / "jobs").glob("*.json")).read_text())
    assert (record["platform"], record["job"], record["settings"]["region"]) == ("sagemaker", job, "eu-west-1")


def test_logs_prints_each_host_s_lines_from_cloudwatch(
    project: Path, aws_env: dict[str, str], moto_endpoint: str
) -> None:
    submitted = mldock(
        "submit", "--platform", "sagemaker", "--stage", "test", "--project", str(project), "--image", IMAGE,
        "--set", f"role_arn={ROLE}", "--set", "region=eu-west-1", "--job-name", "wine-logs",
        env=aws_env,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert mldock("logs", "wine-logs", "--project", str(project), env=aws_env).stderr.startswith(
        "no log lines yet for wine-logs"
    )
    # what SageMaker writes while the job runs: one stream per host in the training jobs' log group
    logs = boto3.client(
        "logs", region_name="eu-west-1", endpoint_url=moto_endpoint,
        aws_access_key_id="testing", aws_secret_access_key=FAKE_SECRET,
    )  # fmt: skip
    group = "/aws/sagemaker/TrainingJobs"
    if group not in [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]]:
        logs.create_log_group(logGroupName=group)
    now = int(time.time() * 1000)
    for host in ("algo-1", "algo-2"):
        stream = f"wine-logs/{host}-1764670000"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        events = [{"timestamp": now + i, "message": f"{host} line {i}"} for i in range(2)]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    printed = mldock("logs", "wine-logs", "--project", str(project), env=aws_env)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == [
        "[algo-1] algo-1 line 0",
        "[algo-1] algo-1 line 1",
        "[algo-2] algo-2 line 0",
        "[algo-2] algo-2 line 1",
    ]


def test_a_refused_request_is_never_sent(project: Path, aws_env: dict[str, str], moto_endpoint: str) -> None:
    refused = mldock(
        "submit", "--platform", "sagemaker", "--stage", "test", "--project", str(project), "--image", IMAGE,
        "--set", "role_arn=not-a-role-arn-at-all", "--set", "region=eu-west-1", "--job-name", "never-sent",
        env=aws_env,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "RoleArn" in refused.stderr
    assert "Traceback" not in refused.stderr
    names = [job["TrainingJobName"] for job in sagemaker(moto_endpoint).list_training_jobs()["TrainingJobSummaries"]]
    assert "never-sent" not in names


def test_status_of_a_job_sagemaker_does_not_know_is_an_error_naming_it(
    project: Path, aws_env: dict[str, str]
) -> None:
    missing = mldock(
        "status", "no-such-job", "--project", str(project), "--platform", "sagemaker", "--set", "region=eu-west-1",
        env=aws_env,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "SageMaker training job 'no-such-job'" in missing.stderr
