"""The harness's pieces that need no engine: the report, the probe's output, model.tar.gz, what a stage gives."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from mldock.errors import RunnerError, UserError
from mldock.harness import ContractReport
from mldock.harness.checks import training_items
from mldock.harness.probe import parse_result, probe_arguments
from mldock.harness.run import model_channels, sample_payload, training_job
from mldock.harness.sagemaker import TrainingRun, pack, unpack
from mldock.project.config import load_project


def test_the_report_passes_only_when_every_item_holds_and_shows_the_evidence() -> None:
    report = ContractReport("sagemaker", "train", "localhost/mldock/p:1", "sha256:" + "a" * 64)
    assert not report.passed  # no item: nothing was shown
    report.add("train.exit", True, "exit code 0", "exits 0")
    assert report.passed
    report.add("train.model-packed", False, "model.tar.gz: empty\nsecond line", "model at the top level")
    assert not report.passed
    assert [item.name for item in report.failed] == ["train.model-packed"]
    table = report.table()
    assert "train.model-packed  FAIL  model at the top level" in table
    assert "second line" in table
    assert table.endswith("2 items: FAILED (1 of 2 items)")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["passed"] is False
    assert data["items"][1] == {
        "name": "train.model-packed",
        "requirement": "model at the top level",
        "passed": False,
        "evidence": "model.tar.gz: empty\nsecond line",
    }


def test_the_probe_result_is_the_last_marked_line_and_its_absence_quotes_the_output() -> None:
    assert parse_result(b'noise\nMLDOCK-PROBE {"ping": {"status": 200}}\n') == {"ping": {"status": 200}}
    with pytest.raises(RunnerError, match="Traceback: boom"):
        parse_result(b"Traceback: boom")
    arguments = json.loads(probe_arguments(b"\x00\xff", "text/csv", port=9000))
    assert (arguments["port"], arguments["content_type"], arguments["payload"]) == (9000, "text/csv", "AP8=")


def test_pack_puts_the_folder_content_at_the_top_level_and_unpack_restores_it(tmp_path: Path) -> None:
    (tmp_path / "model" / "sub").mkdir(parents=True)
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x01\x02")
    (tmp_path / "model" / "sub" / "meta.json").write_text("{}")
    archive = pack(tmp_path / "model", tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/meta.json", "weights.bin"]
    assert unpack(archive, tmp_path / "out") == ("sub/meta.json", "weights.bin")
    assert (tmp_path / "out" / "weights.bin").read_bytes() == b"\x01\x02"


def project(tmp_path: Path, test_stage: dict[str, object]) -> Path:
    config = {"name": "p", "stages": {"test": test_stage}}
    (tmp_path / "mldock.json").write_text(json.dumps(config))
    return tmp_path


def test_the_stage_gives_the_jobs_channels_hyperparameters_and_model_channel_names(tmp_path: Path) -> None:
    (tmp_path / "data" / "train").mkdir(parents=True)
    root = project(
        tmp_path,
        {
            "environment": {"OUTPUT_MODEL_CHANNEL_BEST": "s3://models/best", "INPUT_CHANNEL_TRAIN": "s3://dat/t"},
            "hyperparameters": {"lr": 0.1},
            "seed": {"train": "data/train"},
        },
    )
    config = load_project(root)
    job = training_job(config, "test", stop=True)
    assert dict(job.channels) == {"train": (root / "data" / "train").resolve()}
    assert dict(job.hyperparameters) == {"lr": 0.1}
    assert job.stop_when_logged == "step: running"
    assert model_channels(config) == {"best"}


def test_a_stage_without_seeds_or_a_project_without_payload_is_a_user_error(tmp_path: Path) -> None:
    config = load_project(project(tmp_path, {"hyperparameters": {}}))
    with pytest.raises(UserError, match="stage 'test' has no \"seed\" folders"):
        training_job(config, "test")
    with pytest.raises(UserError, match="give --payload"):
        sample_payload(config)
    (tmp_path / "payloads").mkdir()
    (tmp_path / "payloads" / "a.csv").write_text("1,2\n")
    (tmp_path / "payloads" / "b.json").write_text("{}")
    assert sample_payload(config).name == "b.json"


def test_sagemakers_outputs_item_allows_mldocks_own_run_record_but_names_other_stray_files(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text("{}")
    (tmp_path / "output" / "data" / "metrics").mkdir(parents=True)
    (tmp_path / "output" / "metrics.jsonl").write_text("{}\n")
    model_tar = pack(tmp_path / "model", tmp_path / "model.tar.gz")
    run = TrainingRun(0, "mldock: setup: SageMaker training job j\n", tmp_path, model_tar, None, None, "IMAGE train")
    report = ContractReport("sagemaker", "train", "img", "")
    training_items(report, run)
    assert report.passed, report.table()
    assert "mldock's own run record, not uploaded: metrics.jsonl" in report.items[-2].evidence
    (tmp_path / "output" / "stray.txt").write_text("lost on SageMaker")
    again = ContractReport("sagemaker", "train", "img", "")
    training_items(again, run)
    assert [item.name for item in again.failed] == ["train.outputs-packed"]
    assert "stray.txt" in again.failed[0].evidence
