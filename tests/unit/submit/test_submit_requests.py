"""Every platform's request for examples/sklearn-train, validated offline by the engine's own SDK models.

The requests come from the `test` stage the example's own tests run (and `prod`); each platform's validator is
the real one (botocore's SageMaker service model, aiplatform_v1.CustomJob, azure-ai-ml's CommandJobSchema,
the kubernetes client's V1Job), and each gets deliberately broken requests that must fail naming the field.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.errors import UserError
from mldock.project import load_project
from mldock.project.config import ProjectConfig, StageConfig
from mldock.runtime.channels import parse_channels
from mldock.runtime.redact import is_secret_name
from mldock.runtime.sagemaker import unquote_values
from mldock.submit import ImageRef, JobSpec, job_spec, load_engine
from mldock.submit.kubernetes import pod_manifest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sklearn-train"
IMAGE = ImageRef.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/sklearn-train@sha256:" + "ab" * 32)
SETTINGS: dict[str, dict[str, Any]] = {
    "sagemaker": {"role_arn": "arn:aws:iam::123456789012:role/mldock-training", "region": "eu-west-1"},
    "vertex": {"project": "my-project", "region": "europe-west4"},
    "azureml": {"subscription_id": "sub", "resource_group": "rg", "workspace": "ws", "compute": "cpu-cluster"},
    "kubernetes": {"namespace": "ml", "cpu": "2", "memory": "4Gi", "env_from_secrets": ["cloud-credentials"]},
}
NOW = datetime(2026, 12, 2, 10, 15, 0, tzinfo=timezone.utc)


def spec_for(platform: str, stage: str = "test", **overrides: Any) -> JobSpec:
    project = load_project(EXAMPLE)
    return job_spec(
        project, project.stage(stage), platform, image=IMAGE, overrides={**SETTINGS[platform], **overrides}, now=NOW
    )


def request_for(platform: str, stage: str = "test", **overrides: Any) -> dict[str, Any]:
    return load_engine(platform).build_request(spec_for(platform, stage, **overrides))


@pytest.mark.parametrize("stage", ["test", "prod"])
@pytest.mark.parametrize("platform", ["sagemaker", "vertex", "azureml", "kubernetes"])
def test_the_example_s_request_is_accepted_by_the_engine_s_own_models(platform: str, stage: str) -> None:
    engine = load_engine(platform)
    request = engine.build_request(spec_for(platform, stage))
    engine.validate_request(request)
    assert IMAGE.reference in engine.render(request)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets the field at a dotted path (list indexes as numbers)."""

    def mutate(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = request
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()

BROKEN = [
    ("sagemaker", _set("ResourceConfig.InstanceCount", "two"), "ResourceConfig.InstanceCount"),
    ("sagemaker", _set("RoleArn", _DELETE), "RoleArn"),
    ("sagemaker", _set("RoleArn", "arn:aws:iam::not-an-account:role/x"), "RoleArn"),
    ("sagemaker", _set("TrainingJobName", "under_score"), "TrainingJobName"),
    ("sagemaker", _set("Environment", {"BAD-NAME": "1"}), "Environment key 'BAD-NAME'"),
    ("sagemaker", _set("ResourceConfig.InstanceTypo", "ml.m5.large"), "InstanceTypo"),
    ("vertex", _set("jobSpec.workerPoolSpecs.0.replicaCount", "many"), "replicaCount"),
    ("vertex", _set("jobSpec.workerPoolSpec", []), "workerPoolSpec"),
    ("vertex", _set("jobSpec.workerPoolSpecs.0.containerSpec.imageUri", _DELETE), "containerSpec.imageUri"),
    ("vertex", _set("displayName", _DELETE), "displayName"),
    ("azureml", _set("resources.instance_count", "two"), "instance_count"),
    ("azureml", _set("comand", "train"), "comand"),
    ("kubernetes", _set("spec.template.spec.containers.0.name", _DELETE), "spec.template.spec.containers[0].name"),
    ("kubernetes", _set("spec.parallelizm", 2), "spec.parallelizm"),
    ("kubernetes", _set("spec.backoffLimit", "never"), "spec.backoffLimit"),
    ("kubernetes", _set("metadata.name", "Not_A_Name"), "metadata.name"),
]


@pytest.mark.parametrize(
    ("platform", "mutate", "field"), BROKEN, ids=[f"{p}-{f}" for p, _, f in BROKEN]
)
def test_a_broken_request_fails_naming_the_field(
    platform: str, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    engine = load_engine(platform)
    request = copy.deepcopy(request_for(platform))
    engine.validate_request(request)  # the unbroken one passes
    mutate(request)
    with pytest.raises(UserError) as caught:
        engine.validate_request(request)
    assert field in str(caught.value)


def test_sagemaker_maps_s3_channels_natively_and_keeps_the_others_for_the_container() -> None:
    request = request_for("sagemaker")
    # the example reads gs:// and writes az:// (kept for the container to move) and s3:// for the model
    assert "InputDataConfig" not in request
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://wine-models/model"}
    assert request["Environment"] == {
        "MLDOCK_INPUT_CHANNEL_TRAIN": "gs://wine-data/train",
        "MLDOCK_OUTPUT_CHANNEL_METRICS": "az://wine-metrics/metrics",
        "MLDOCK_STAGE": "test",
    }
    assert request["HyperParameters"] == {
        "n_estimators": "20", "max_depth": "4", "test_size": "0.25", "random_state": "0",
    }
    assert request["RoleArn"] == SETTINGS["sagemaker"]["role_arn"]
    assert request["TrainingJobName"] == "sklearn-train-test-20261202-101500"


def test_sagemaker_s3_inputs_become_input_data_config(tmp_path: Path) -> None:
    (tmp_path / "mldock.json").write_text(
        '{"name": "p", "stages": {"prod": {"environment": {"INPUT_CHANNEL_TRAIN": "s3://data/train",'
        ' "INPUT_CHANNEL_EXTRA": "gs://other/extra", "OUTPUT_MODEL_CHANNEL_MODEL": "s3://models/m"},'
        ' "platforms": {"sagemaker": {"role_arn": "arn:aws:iam::123456789012:role/r", "instance_count": 2,'
        ' "checkpoint_uri": "s3://models/checkpoints"}}}}}'
    )
    project = load_project(tmp_path)
    engine = load_engine("sagemaker")
    request = engine.build_request(job_spec(project, project.stage("prod"), "sagemaker", image=IMAGE, now=NOW))
    engine.validate_request(request)
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train"]
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/train"
    assert request["Environment"] == {"MLDOCK_INPUT_CHANNEL_EXTRA": "gs://other/extra", "MLDOCK_STAGE": "prod"}
    assert request["ResourceConfig"]["InstanceCount"] == 2
    assert request["CheckpointConfig"]["S3Uri"] == "s3://models/checkpoints"


def test_sagemaker_without_an_s3_model_channel_needs_an_output_path(tmp_path: Path) -> None:
    (tmp_path / "mldock.json").write_text(
        '{"name": "p", "stages": {"prod": {"environment": {"OUTPUT_MODEL_CHANNEL_MODEL": "gs://models/m"}}}}'
    )
    project = load_project(tmp_path)
    spec = job_spec(project, project.stage("prod"), "sagemaker", image=IMAGE, now=NOW)
    with pytest.raises(UserError, match="output_path"):
        load_engine("sagemaker").build_request(spec)


def test_vertex_multi_node_adds_a_worker_pool_and_carries_hyperparameters_as_json() -> None:
    request = request_for("vertex", instance_count=3)
    load_engine("vertex").validate_request(request)
    pools = request["jobSpec"]["workerPoolSpecs"]
    assert [pool["replicaCount"] for pool in pools] == [1, 2]
    env = {item["name"]: item["value"] for item in pools[0]["containerSpec"]["env"]}
    assert env["MLDOCK_HYPERPARAMETERS"] == '{"max_depth":4,"n_estimators":20,"random_state":0,"test_size":0.25}'
    assert env["MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL"] == "s3://wine-models/model"
    assert pools[0]["containerSpec"]["args"] == ["train"]


def test_kubernetes_references_secrets_and_becomes_an_indexed_job_for_several_nodes() -> None:
    manifest = request_for("kubernetes", instance_count=2)
    load_engine("kubernetes").validate_request(manifest)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "cloud-credentials"}}]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
    assert (manifest["spec"]["completions"], manifest["spec"]["parallelism"]) == (2, 2)
    assert manifest["spec"]["completionMode"] == "Indexed"
    pod = pod_manifest(manifest)
    assert pod["kind"] == "Pod"
    assert pod["spec"] is manifest["spec"]["template"]["spec"]


def test_azureml_az_channels_with_a_datastore_become_inputs_and_outputs(tmp_path: Path) -> None:
    (tmp_path / "mldock.json").write_text(
        '{"name": "p", "stages": {"prod": {"environment": {"INPUT_CHANNEL_TRAIN": "az://data/wine/train",'
        ' "OUTPUT_CHANNEL_METRICS": "az://metrics/wine", "OUTPUT_MODEL_CHANNEL_MODEL": "s3://models/m",'
        ' "INPUT_CHANNEL_OTHER": "az://unmapped/x"},'
        ' "platforms": {"azureml": {"compute": "cpu",'
        ' "datastores": {"data": "wine_data", "metrics": "wine_metrics"}}}}}}'
    )
    project = load_project(tmp_path)
    engine = load_engine("azureml")
    body = engine.build_request(job_spec(project, project.stage("prod"), "azureml", image=IMAGE, now=NOW))
    engine.validate_request(body)
    assert body["inputs"] == {
        "train": {"type": "uri_folder", "path": "azureml://datastores/wine_data/paths/wine/train", "mode": "download"}
    }
    assert body["outputs"] == {
        "metrics": {"type": "uri_folder", "path": "azureml://datastores/wine_metrics/paths/wine", "mode": "upload"}
    }
    assert body["command"] == (
        "MLDOCK_INPUT_CHANNEL_TRAIN=file://${{inputs.train}} MLDOCK_OUTPUT_CHANNEL_METRICS=file://${{outputs.metrics}} "
        "mldock-entrypoint train"
    )
    assert body["environment_variables"] == {
        "MLDOCK_INPUT_CHANNEL_OTHER": "az://unmapped/x",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": "s3://models/m",
        "MLDOCK_STAGE": "prod",
    }
    # what the command hands the runtime once Azure ML has put its folder path in place of the binding
    mounted = {"MLDOCK_INPUT_CHANNEL_TRAIN": "file:///mnt/azureml/cr/j/0a1b/cap/data-capability/wd/INPUT_train"}
    [channel] = parse_channels(mounted, Path("/opt/ml"))
    assert (channel.name, channel.uri.scheme) == ("train", "file")


def test_azureml_names_compute_and_instance_count() -> None:
    request = request_for("azureml", instance_count=2, instance_type="Standard_DS3_v2")
    load_engine("azureml").validate_request(request)
    assert request["compute"] == "azureml:cpu-cluster"
    assert request["resources"] == {"instance_count": 2, "instance_type": "Standard_DS3_v2"}
    assert request["command"] == "mldock-entrypoint train"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_characters="=@:"), max_size=40),  # no credential-like text (refused)
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=8,
)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(lambda name: not is_secret_name(name))


@given(hyperparameters=st.dictionaries(NAMES, JSON_VALUES, max_size=6))
def test_sagemaker_hyperparameters_read_back_by_the_runtime_are_the_stage_s(hyperparameters: dict[str, Any]) -> None:
    project = ProjectConfig(root=EXAMPLE, name="p")
    stage = StageConfig(name="prod", environment={"MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": "s3://models/m"},
                        hyperparameters=hyperparameters)  # fmt: skip
    spec = job_spec(project, stage, "sagemaker", image=IMAGE, overrides=SETTINGS["sagemaker"], now=NOW)
    request = load_engine("sagemaker").build_request(spec)
    load_engine("sagemaker").validate_request(request)
    read_back = unquote_values(request["HyperParameters"])  # what the runtime makes of SageMaker's file
    for key, value in hyperparameters.items():
        if isinstance(value, str):
            assert read_back[key] == value
        else:
            assert json.loads(read_back[key]) == value
