"""The Vertex AI and Azure ML harness pieces that need no engine: how a job's args and command are written, the
routes, the dataset format, a project's command-job outputs, and the items judged from a finished run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

import pytest_mldock.platform
from mldock.errors import UserError
from mldock.harness import PLATFORMS, ContractReport
from mldock.harness.azureml import AzureMLTrainingRun, command_line
from mldock.harness.checks import (
    azureml_serving_items,
    azureml_training_items,
    vertex_serving_items,
    vertex_training_items,
)
from mldock.harness.launch import describe
from mldock.harness.probe import probe_arguments
from mldock.harness.run import azureml_outputs, channel_names
from mldock.harness.sagemaker import ServingRun
from mldock.harness.vertex import VertexTrainingRun, data_format, job_args, prediction_routes
from mldock.project.config import load_project
from mldock.runtime.channels import ChannelKind


def test_the_plugin_offers_the_platforms_the_harness_runs() -> None:
    assert pytest_mldock.platform._PLATFORMS == PLATFORMS == ("sagemaker", "vertex", "azureml")


def test_a_tuning_trial_gets_each_hyperparameter_as_one_name_value_argument() -> None:
    args = job_args({"learning_rate": 0.1, "layers": 3, "optimizer": "adam", "deep": True, "note": "a b"})
    assert args == ["--learning_rate=0.1", "--layers=3", "--optimizer=adam", "--deep=true", "--note=a b"]
    assert job_args({}) == []


def test_vertex_routes_are_neither_ping_nor_predict_and_name_the_endpoint() -> None:
    health, predict = prediction_routes("7", "9")
    assert (health, predict) == ("/v1/endpoints/7/deployedModels/9", "/v1/endpoints/7/deployedModels/9:predict")
    assert "/ping" not in (health, predict)
    assert "/predict" not in (health, predict)


def test_a_dataset_is_csv_or_jsonl_and_anything_else_names_the_channel(tmp_path: Path) -> None:
    assert data_format([Path("a.csv"), Path("b.CSV")], "train") == "csv"
    assert data_format([Path("a.jsonl")], "train") == "jsonl"
    with pytest.raises(UserError, match=r"channel 'train'.*\.csv or \.jsonl.*\.png"):
        data_format([Path("a.csv"), Path("b.png")], "train")


def test_the_command_job_passes_hyperparameters_and_mounted_folders_as_the_runtime_reads_them() -> None:
    command = command_line(
        {"n_estimators": 20, "kernel": "rbf x"},
        {"train": "/mnt/azureml/in/INPUT_train"},
        {"model": (ChannelKind.OUTPUT_MODEL, "/mnt/out/model"), "metrics": (ChannelKind.OUTPUT, "/mnt/out/metrics")},
    )
    assert shlex.split(command) == [
        "mldock-entrypoint",
        "train",
        "--n_estimators=20",
        "--kernel=rbf x",
        "--input-channel",
        "train=/mnt/azureml/in/INPUT_train",
        "--output-model-channel",
        "model=/mnt/out/model",
        "--output-channel",
        "metrics=/mnt/out/metrics",
    ]


def test_a_projects_command_job_outputs_are_its_model_and_output_channels(tmp_path: Path) -> None:
    stages = {
        "test": {"environment": {"OUTPUT_MODEL_CHANNEL_BEST": "s3://mdl/b", "OUTPUT_CHANNEL_METRICS": "s3://mdl/m"}},
        "dev": {"environment": {"MLDOCK_MODEL_INPUT_CHANNEL_WINE": "s3://mdl/w", "INPUT_CHANNEL_TRAIN": "s3://dat/t"}},
    }
    (tmp_path / "mldock.json").write_text(json.dumps({"name": "p", "stages": stages}))
    config = load_project(tmp_path)
    assert azureml_outputs(config) == {"best": ChannelKind.OUTPUT_MODEL, "metrics": ChannelKind.OUTPUT}
    assert channel_names(config, ChannelKind.INPUT_MODEL) == {"wine"}  # the 0.9.2 alias counts
    (tmp_path / "mldock.json").write_text(json.dumps({"name": "p", "stages": {}}))
    assert azureml_outputs(load_project(tmp_path)) == {"model": ChannelKind.OUTPUT_MODEL}


def vertex_run(objects: tuple[str, ...], logs: str = "", hypertune: tuple[str, ...] = ()) -> VertexTrainingRun:
    return VertexTrainingRun(0, logs, "IMAGE --x=1", "gs://bkt/j/1/model/", objects, (), hypertune)


def test_vertex_training_items_want_the_model_at_the_top_of_aip_model_dir_and_every_metric_for_hypertune() -> None:
    setup = "mldock: setup: Vertex AI training job 1 trial 1, channels: ...\n"
    report = ContractReport("vertex", "train", "img", "")
    vertex_training_items(report, vertex_run(("model.json",), setup), {"model"})
    assert report.passed, report.table()
    nested = ContractReport("vertex", "train", "img", "")
    logged = setup + "mldock-metric: rows=2\nmldock-metric: loss=0.5 step=1\n"
    vertex_training_items(nested, vertex_run(("model/model.json",), logged, ('{"rows": "2"}',)), {"model"})
    assert [item.name for item in nested.failed] == ["train.model-uploaded", "train.hypertune-metrics"]
    assert "2 metric(s) logged; 1 line(s)" in nested.failed[1].evidence


def serving_run(probe: dict[str, object], files: tuple[str, ...] = ("model.json",), logs: str = "") -> ServingRun:
    return ServingRun(probe, 0, 0.4, logs, files, "host", "IMAGE (the image's default command)")


def healthy_probe(body: str, gets: dict[str, int] | None = None) -> dict[str, object]:
    return {
        "ping": {"status": 200, "ready_after": 1.0, "seen": [0, 200]},
        "invoke": {"status": 200, "content_type": "application/json", "took": 0.01, "body": body},
        "busy_ping": {"pings": [[200, 0.01]], "max": 0.01, "predictions_meanwhile": 9, "prediction_statuses": [200]},
        "gets": gets or {},
    }


@pytest.mark.parametrize(
    ("body", "passed"),
    [
        ('{"predictions": [1, 2]}', True),
        ('{"predictions": [1]}', False),
        ('{"rows": 2}', False),
        ("not json", False),
    ],
    ids=["one-per-instance", "too-few", "no-predictions", "not-json"],
)
def test_vertex_predict_wants_one_prediction_per_instance(body: str, passed: bool) -> None:
    report = ContractReport("vertex", "serve", "img", "")
    logs = "mldock: setup: Vertex AI prediction, channels: input_model model (AIP_STORAGE_URI)\n"
    vertex_serving_items(report, serving_run(healthy_probe(body), logs=logs), b'{"instances": [[1], [2]]}')
    assert report.passed is passed, report.table()
    assert {item.name for item in report.failed} == (set() if passed else {"serve.predict"})


def test_azureml_items_want_readiness_liveness_and_scoring_and_a_model_in_each_model_output(tmp_path: Path) -> None:
    logs = "mldock: setup: Azure ML online deployment, model mounted at /var/azureml-app/azureml-models/m/1\n"
    report = ContractReport("azureml", "serve", "img", "")
    azureml_serving_items(report, serving_run(healthy_probe("{}", {"/": 200}), ("model/model.json",), logs))
    assert report.passed, report.table()
    dead = ContractReport("azureml", "serve", "img", "")
    azureml_serving_items(dead, serving_run({"ping": {"status": 0, "seen": ["container exited"]}}, logs=logs))
    assert {item.name for item in dead.failed} == {
        "serve.readiness",
        "serve.liveness",
        "serve.score",
        "serve.health-while-busy",
    }
    (tmp_path / "model").mkdir()
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "m.json").write_text("{}")
    run = AzureMLTrainingRun(
        0, "", "", "mldock-entrypoint train", {"model": tmp_path / "model", "metrics": tmp_path / "metrics"}
    )
    job = ContractReport("azureml", "train", "img", "")
    azureml_training_items(job, run, {"model"})
    assert [item.name for item in job.failed] == ["train.outputs"]
    assert "no model in model" in job.failed[0].evidence


def test_a_start_is_described_with_its_command_entrypoint_folder_network_mounts_and_variables() -> None:
    volumes = {"/h/in": {"bind": "/mnt/in", "mode": "ro"}}
    line = describe(["train --x=1"], {"A": "1"}, volumes, entrypoint=["/bin/sh", "-c"], working_dir="/wd")
    assert (
        line == "IMAGE train --x=1; entrypoint /bin/sh -c; working folder /wd; network none; mounts /mnt/in (ro); "
        "variables A=1"
    )
    assert describe(None, {}, {}, network="host").startswith("IMAGE (the image's default command); network host")


def test_the_probe_takes_a_platforms_port_and_routes_and_leaves_sagemakers_extras_out() -> None:
    arguments = json.loads(
        probe_arguments(
            b"{}",
            "application/json",
            port=5001,
            ping_route="/ping",
            predict_route="/score",
            execution_route=None,
            attributes_header=None,
            gets=("/",),
        )
    )
    assert (arguments["port"], arguments["ping_route"], arguments["predict_route"]) == (5001, "/ping", "/score")
    assert arguments["execution_route"] is None
    assert arguments["attributes_header"] is None
    assert arguments["gets"] == ["/"]
