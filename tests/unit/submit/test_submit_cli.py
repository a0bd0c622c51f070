"""`mldock submit --dry-run` for examples/sklearn-train: the printed request parses and is the validated one;
a request the engine would refuse exits 2 naming the field, with no traceback and nothing on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mldock.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sklearn-train"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/sklearn-train@sha256:" + "cd" * 32
COMMON = ["submit", "--project", str(EXAMPLE), "--stage", "test", "--dry-run", "--image", IMAGE, "--job-name", "wine-1"]
SETTINGS = {
    "sagemaker": ["--set", "role_arn=arn:aws:iam::123456789012:role/mldock", "--set", "region=eu-west-1"],
    "vertex": ["--set", "project=my-project"],
    "azureml": ["--set", "compute=cpu-cluster"],
    "kubernetes": ["--set", "namespace=ml", "--set", 'env_from_secrets=["cloud-credentials"]'],
}


@pytest.mark.parametrize("platform", ["sagemaker", "vertex", "azureml", "kubernetes"])
def test_dry_run_prints_the_validated_request(platform: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*COMMON, "--platform", platform, *SETTINGS[platform]]) == 0
    captured = capsys.readouterr()
    request = yaml.safe_load(captured.out) if platform == "kubernetes" else json.loads(captured.out)
    assert IMAGE in json.dumps(request)
    assert "wine-1" in json.dumps(request)
    assert f"{platform}: the request is valid" in captured.err


def test_dry_run_json_wraps_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*COMMON, "--platform", "kubernetes", "--json", "--instance-count", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["platform"] == "kubernetes"
    assert printed["request"]["spec"]["parallelism"] == 2


def test_the_pod_of_the_job_for_podman_kube_play(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*COMMON, "--platform", "kubernetes", "--pod", "--set", "host_network=true"]) == 0
    pod = yaml.safe_load(capsys.readouterr().out)
    assert (pod["kind"], pod["metadata"]["name"], pod["spec"]["hostNetwork"]) == ("Pod", "wine-1", True)


@pytest.mark.parametrize(
    ("platform", "args", "named"),
    [
        ("sagemaker", [], '"RoleArn" (platforms.sagemaker.role_arn, or --set role_arn=...)'),
        ("sagemaker", [*SETTINGS["sagemaker"], "--instance-type", "ml.m5.large", "--set", "volume_size_gb=0"],
         "--set volume_size_gb"),
        ("kubernetes", ["--set", "namespace=Not_Valid"], "--set namespace"),
        ("kubernetes", ["--instance-type", "big"], "--instance-type: Kubernetes has no machine type"),
        ("vertex", ["--set", "machine_typo=n1"], "--set machine_typo: vertex has no setting"),
    ],
    ids=["sagemaker-no-role", "sagemaker-volume", "kubernetes-namespace", "kubernetes-instance-type", "vertex-typo"],
)
def test_a_request_the_engine_would_refuse_exits_2_naming_it(
    platform: str, args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*COMMON, "--platform", platform, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert named in captured.err
    assert "Traceback" not in captured.err


def test_a_job_name_sagemaker_refuses_is_named_before_anything_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*COMMON[:-2], "--job-name", "wine_1", "--platform", "sagemaker", *SETTINGS["sagemaker"]]
    assert main(args) == 2
    assert "TrainingJobName: 'wine_1'" in capsys.readouterr().err
