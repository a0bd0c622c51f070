"""StageStorage against real emulators: buckets for a stage's channels, seeds, read-back, explicit settings.

Two emulators of one kind run at once, each reached through its own settings, with os.environ holding none
of their variables: nothing points the SDKs at an emulator but what StageStorage is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mldock.emulators import AzureBlobEmulator, GCSEmulator, S3Emulator
from mldock.emulators.base import Emulator
from mldock.errors import ConfigError
from mldock.project.config import StageConfig
from mldock.project.stage_storage import StageStorage, files_of, needed_emulators, stage_channels
from mldock.storage import parse_uri

pytestmark = pytest.mark.integration

_SDK_VARIABLES = ("AWS_ENDPOINT_URL", "STORAGE_EMULATOR_HOST", "AZURE_STORAGE_CONNECTION_STRING")


@pytest.fixture(params=["s3", "gs", "az"], ids=["s3", "gs", "az"])
def two_emulators(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Emulator]]:
    for variable in _SDK_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    kind = {"s3": S3Emulator, "gs": GCSEmulator, "az": AzureBlobEmulator}[request.param]
    with kind() as first, kind() as second:
        yield [first, second]


def test_two_emulators_of_one_kind_each_reached_by_its_own_settings(two_emulators: list[Emulator]) -> None:
    before = dict(os.environ)
    first, second = two_emulators
    scheme = first.scheme
    uri = parse_uri(f"{scheme}://stage-bucket/train")
    one, two = StageStorage({scheme: first.env()}), StageStorage({scheme: second.env()})
    one.seed(uri, {"a.csv": b"first\n", "deep/b.csv": "text"})
    two.seed(uri, {"c.csv": b"second\n"})
    assert one.read(uri) == {"a.csv": b"first\n", "deep/b.csv": b"text"}
    assert two.read(uri) == {"c.csv": b"second\n"}
    assert "stage-bucket" in first.bucket_names()
    one.delete_bucket(uri)
    one.delete_bucket(uri)  # gone already: no error
    assert "stage-bucket" not in first.bucket_names()
    assert "stage-bucket" in second.bucket_names()
    assert dict(os.environ) == before


def test_buckets_for_a_stage_and_outputs_read_back(tmp_path: Path) -> None:
    stage = StageConfig(
        name="dev",
        environment={
            "MLDOCK_INPUT_CHANNEL_TRAIN": "s3://inputs/train",
            "MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL": "s3://models/run",
            "MLDOCK_OUTPUT_CHANNEL_METRICS": f"file://{tmp_path}/metrics",
        },
    )
    channels = stage_channels(stage)
    assert needed_emulators(channels) == ["s3"]
    with S3Emulator() as s3:
        storage = StageStorage({"s3": s3.env()})
        storage.create_buckets(channels)
        assert {"inputs", "models"} <= set(s3.bucket_names())
        model = next(c for c in channels if c.name == "model")
        assert storage.read(model.uri) == {}
        assert storage.fetch(model.uri, tmp_path / "fetched") is None
        assert storage.size(model.uri) == 0
        folder = tmp_path / "seed"
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "w.bin").write_bytes(b"\x00" * 10)
        report = storage.seed(model.uri, folder)
        assert (report.files, report.bytes) == (1, 10)
        assert storage.size(model.uri) == 10
        fetched = storage.fetch(model.uri, tmp_path / "fetched")
        assert fetched is not None
        assert fetched.files == 1
        assert (tmp_path / "fetched" / "sub" / "w.bin").read_bytes() == b"\x00" * 10


def test_files_of_refuses_a_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        files_of(tmp_path / "missing")
    single = tmp_path / "one.txt"
    single.write_text("x")
    assert files_of(single) == {"one.txt": b"x"}
