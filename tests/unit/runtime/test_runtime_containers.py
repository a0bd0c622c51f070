"""startup()/cleanup(): downloads, stage-attached steps, uploads (also after a failing step)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from mldock.errors import ChannelError, RemoteNotFoundError, StorageError
from mldock.runtime.containers import ServingContainer, TrainingContainer, format_bytes, is_truthy
from mldock.runtime.environment import Environment
from mldock.runtime.stages import on_cleanup, on_startup
from mldock.storage.base import Remote, TransferReport
from mldock.storage.uri import RemoteURI


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "train" / "sub").mkdir(parents=True)
    (root / "train" / "sub" / "a.csv").write_text("1,2\n")
    (root / "models" / "base").mkdir(parents=True)
    (root / "models" / "base" / "weights.bin").write_bytes(b"\x00" * 10)
    (root / "results").mkdir()
    return root


def _env(tmp_path: Path, store: Path, stage: str = "dev", **extra: str) -> Environment:
    environ = {
        "MLDOCK_STAGE": stage,
        "MLDOCK_INPUT_CHANNEL_TRAIN": f"file://{store}/train",
        "MLDOCK_INPUT_MODEL_CHANNEL_BASE": f"file://{store}/models/base",
        "MLDOCK_OUTPUT_CHANNEL_METRICS": f"file://{store}/results/metrics",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_BASE": f"file://{store}/results/model",
        **extra,
    }
    env = Environment.from_env(environ, base_dir=tmp_path / "base")
    env.prepare()
    return env


class Recording(TrainingContainer):
    calls: list[str]

    @on_startup
    def everywhere(self) -> None:
        self.calls.append(f"startup-all:{(self.env.input_data_dir / 'train' / 'sub' / 'a.csv').exists()}")

    @on_startup(stages=["dev"])
    def dev_only(self) -> None:
        self.calls.append("startup-dev")

    @on_cleanup(stages=["test"])
    def test_only(self) -> None:
        self.calls.append("cleanup-test")


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        pytest.param("dev", ["startup-all:True", "startup-dev"], id="dev"),
        pytest.param("test", ["startup-all:True", "cleanup-test"], id="test"),
        pytest.param("prod", ["startup-all:True"], id="prod"),
    ],
)
def test_steps_run_only_in_their_stage_after_downloads(
    tmp_path: Path, store: Path, stage: str, expected: list[str]
) -> None:
    container = Recording(_env(tmp_path, store, stage))
    container.calls = []
    container.startup()
    container.cleanup()
    assert container.calls == expected


def test_round_trip_keeps_structure_and_bytes(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store)
    container = TrainingContainer(env)
    container.startup()
    assert (env.channel("train").path / "sub" / "a.csv").read_text() == "1,2\n"
    model = env.model_dir / "base"
    assert (model / "weights.bin").read_bytes() == b"\x00" * 10
    (env.output_dir / "metrics" / "deep").mkdir(parents=True)
    (env.output_dir / "metrics" / "deep" / "m.json").write_text("{}")
    (model / "tuned.bin").write_bytes(b"\x01" * 5)
    reports = container.upload_outputs()
    assert [(r.files, r.bytes) for r in reports] == [(1, 2), (2, 15)]
    assert (store / "results" / "metrics" / "deep" / "m.json").read_text() == "{}"
    assert (store / "results" / "model" / "tuned.bin").read_bytes() == b"\x01" * 5


class FailingCleanupStep(TrainingContainer):
    @on_cleanup
    def verify(self) -> None:
        raise AssertionError("outputs incomplete")


def test_uploads_happen_even_when_a_cleanup_step_fails(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store)
    (env.output_dir / "metrics" / "m.txt").write_text("partial")
    with pytest.raises(AssertionError, match="outputs incomplete"):
        FailingCleanupStep(env).cleanup()
    assert (store / "results" / "metrics" / "m.txt").read_text() == "partial"


def test_missing_bucket_is_created_only_when_the_setting_says_so(tmp_path: Path, store: Path) -> None:
    extra = {"MLDOCK_OUTPUT_CHANNEL_METRICS": f"file://{store}/absent/metrics"}
    with pytest.raises(RemoteNotFoundError, match="absent"):
        TrainingContainer(_env(tmp_path, store, **extra)).upload_outputs()
    TrainingContainer(_env(tmp_path, store, MLDOCK_CREATE_MISSING_BUCKETS="yes", **extra)).upload_outputs()
    assert (store / "absent" / "metrics").is_dir()


def test_every_upload_is_tried_before_failing(tmp_path: Path, store: Path) -> None:
    extra = {
        "MLDOCK_OUTPUT_CHANNEL_METRICS": f"file://{store}/absent1/metrics",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_BASE": f"file://{store}/absent2/model",
        "MLDOCK_OUTPUT_CHANNEL_LOGS": f"file://{store}/results/logs",
    }
    env = _env(tmp_path, store, **extra)
    (env.output_dir / "logs" / "l.txt").write_text("log")
    with pytest.raises(StorageError, match="2 channels failed") as caught:
        TrainingContainer(env).upload_outputs()
    assert "absent1" in str(caught.value)
    assert "absent2" in str(caught.value)
    assert (store / "results" / "logs" / "l.txt").exists()


def test_missing_input_fails_startup(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store, MLDOCK_INPUT_CHANNEL_TRAIN=f"file://{store}/nothing-here")
    with pytest.raises(RemoteNotFoundError, match="nothing-here"):
        TrainingContainer(env).startup()


class OverridingStartup(TrainingContainer):
    def startup(self) -> None:
        super().startup()
        (self.env.output_dir / "metrics" / "from-override.txt").write_text("x")


def test_overriding_startup_with_super_works(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store)
    OverridingStartup(env).startup()
    assert (env.channel("train").path / "sub" / "a.csv").exists()
    assert (env.output_dir / "metrics" / "from-override.txt").exists()


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        pytest.param(v, t, id=repr(v))
        for v, t in [("true", True), ("YES", True), ("1", True), ("0", False), (None, False)]
    ],
)
def test_is_truthy(value: str | None, truthy: bool) -> None:
    assert is_truthy(value) is truthy


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (5, 2048, 3 * 1024**2)] == ["5 B", "2.0 KiB", "3.0 MiB"]


# -- optional channels and steps before the downloads -----------------------------------------------------


def test_an_empty_optional_channel_gives_an_empty_folder_and_a_log_line(
    tmp_path: Path, store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = _env(
        tmp_path,
        store,
        MLDOCK_INPUT_MODEL_CHANNEL_WARM=f"file://{store}/models/none-yet",
        MLDOCK_OPTIONAL_CHANNELS="warm",
    )
    with caplog.at_level("INFO", logger="mldock"):
        reports = TrainingContainer(env).download_inputs()
    assert (env.model_dir / "warm").is_dir()
    assert list((env.model_dir / "warm").iterdir()) == []
    assert [r.files for r in reports] == [1, 1, 0]
    assert "optional input_model channel 'warm' is empty" in caplog.text


def test_an_empty_required_channel_still_fails(tmp_path: Path, store: Path) -> None:
    env = _env(
        tmp_path,
        store,
        MLDOCK_INPUT_MODEL_CHANNEL_WARM=f"file://{store}/models/none-yet",
        MLDOCK_OPTIONAL_CHANNELS="other",
    )
    with pytest.raises(RemoteNotFoundError):
        TrainingContainer(env).download_inputs()


class Seeding(TrainingContainer):
    """A dev-only step fills the (empty) input before startup() downloads it."""

    @on_startup(stages=["dev"], before_downloads=True)
    def seed_input(self) -> None:
        source = self.env.channel("fresh").uri.prefix
        Path(source).mkdir(parents=True, exist_ok=True)
        (Path(source) / "seeded.csv").write_text("x\n1\n")

    @on_startup(stages=["dev"])
    def after(self) -> None:
        assert (self.env.input_data_dir / "fresh" / "seeded.csv").is_file()


def test_a_step_before_the_downloads_can_seed_an_input(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store, MLDOCK_INPUT_CHANNEL_FRESH=f"file://{store}/fresh")
    Seeding(env).startup()
    assert (env.input_data_dir / "fresh" / "seeded.csv").read_text() == "x\n1\n"


def test_a_step_before_the_downloads_runs_only_in_its_stages(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store, stage="test", MLDOCK_INPUT_CHANNEL_FRESH=f"file://{store}/fresh")
    with pytest.raises(RemoteNotFoundError):
        Seeding(env).startup()


# -- serving's own channel set ------------------------------------------------------------------------------


def test_serving_downloads_the_model_channels_only_and_uploads_nothing(
    tmp_path: Path, store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = _env(tmp_path, store)
    serving = ServingContainer(env)
    with caplog.at_level("INFO", logger="mldock"):
        reports = serving.download_inputs()
        assert serving.upload_outputs() == []
    assert [r.uri for r in reports] == [f"file://{store}/models/base"]
    assert not (env.input_data_dir / "train" / "sub").exists()
    assert "serving skips input channel 'train'" in caplog.text
    assert not (store / "results" / "metrics").exists()  # nothing re-uploaded to the training outputs


def test_serving_downloads_the_channels_the_stage_names_and_uploads_when_asked(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store, MLDOCK_SERVE_CHANNELS="train", MLDOCK_SERVE_UPLOAD_OUTPUTS="true")
    serving = ServingContainer(env)
    assert [r.uri for r in serving.download_inputs()] == [f"file://{store}/train"]
    (env.output_dir / "metrics" / "m.json").write_text("{}")
    assert [r.files for r in serving.upload_outputs()] == [1, 0]
    assert (store / "results" / "metrics" / "m.json").is_file()


def test_a_bad_serving_channel_name_names_the_variable(tmp_path: Path, store: Path) -> None:
    env = _env(tmp_path, store, MLDOCK_SERVE_CHANNELS="Not A Name")
    with pytest.raises(ChannelError, match="MLDOCK_SERVE_CHANNELS: 'not a name'"):
        ServingContainer(env).download_inputs()


def test_a_download_that_used_worker_processes_says_so(
    tmp_path: Path, store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Spread(TrainingContainer):
        def remote_for(self, uri: RemoteURI) -> Remote:
            local = super().remote_for(uri)

            class InThreeProcesses:
                def download(self, uri: RemoteURI, dest: Path) -> TransferReport:
                    return dataclasses.replace(local.download(uri, dest), processes=3)

            return InThreeProcesses()  # type: ignore[return-value]

    with caplog.at_level("INFO", logger="mldock"):
        Spread(_env(tmp_path, store)).download_inputs()
    assert "startup: downloaded channel 'train': 1 file, 4 B in " in caplog.text
    assert re.search(r"channel 'train': 1 file, 4 B in [0-9.]+s \(3 processes\)", caplog.text)
