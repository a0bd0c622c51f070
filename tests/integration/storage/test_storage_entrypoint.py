"""TrainingContainer startup()/cleanup() through each remote, end to end: `python -m mldock train` as a
subprocess against the real emulators (and file://), inputs seeded and outputs read back byte for byte.

Cloud channels are written without a scheme and resolved by the platform environment (AWSEnvironment,
GCPEnvironment, AzureEnvironment) that assets.py selects, so item 5 is exercised end to end too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mldock.emulators.azure import ACCOUNT_KEY

pytestmark = pytest.mark.integration

PLATFORM = {"s3": "AWSEnvironment", "gs": "GCPEnvironment", "az": "AzureEnvironment", "file": "Environment"}

TRAINER = """
import shutil

def train(env):
    mode = env.hyperparameters.get("mode", str, default="ok")
    out = env.output_dir / "results"
    shutil.copytree(env.input_data_dir / "train", out / "copy", dirs_exist_ok=True)
    (out / "base-model.txt").write_bytes((env.model_dir / "base" / "base.bin").read_bytes()[::-1])
    (env.model_dir / "final" / "weights.bin").write_bytes(bytes(range(256)) * 300)
    if mode == "fail":
        raise RuntimeError("deliberate failure after writing outputs")
"""

ASSETS = """
from mldock import TrainingContainer
from mldock.runtime.environment import Environment
from mldock.runtime.platforms import AWSEnvironment, AzureEnvironment, GCPEnvironment

class Training(TrainingContainer):
    environment_class = {platform}
"""

INPUTS = {
    "rows/part-0.csv": b"a,b\n1,2\n",
    "rows/part 1+%.csv": b"a,b\n3,4\n",
    "empty.txt": b"",
    "deep/é/ü/blob.bin": bytes(range(256)) * 100,
}


def _project(root: Path, scheme: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "trainer.py").write_text(TRAINER)
    (root / "assets.py").write_text(ASSETS.format(platform=PLATFORM[scheme]))
    return root


def _bare(backend, uri) -> str:  # type: ignore[no-untyped-def]
    """The channel value as a user of the platform environment writes it: without the scheme."""
    text = str(uri)
    return text if backend.scheme == "file" else text.split("://", 1)[1]


def _train(backend, tmp_path: Path, *, mode: str = "ok", input_bucket: str | None = None):
    bucket = input_bucket or backend.new_bucket()
    if input_bucket is None:
        for key, data in INPUTS.items():
            backend.put(bucket, f"inputs/train/{key}", data)
        backend.put(bucket, "models/base.bin", b"base-model")
    out_bucket = backend.bucket_name()  # does not exist yet: the stage asks to create it
    backend.buckets.append(out_bucket)
    base = tmp_path / "ml"
    env = {
        **os.environ,
        "MLDOCK_BASE_DIR": str(base),
        "MLDOCK_PROJECT_DIR": str(_project(tmp_path / "project", backend.scheme)),
        "MLDOCK_STAGE": "test",
        "MLDOCK_HYPERPARAMETERS": f'{{"mode": "{mode}"}}',
        "MLDOCK_CREATE_MISSING_BUCKETS": "true",
        "MLDOCK_INPUT_CHANNEL_TRAIN": _bare(backend, backend.uri(bucket, "inputs/train")),
        "MLDOCK_INPUT_MODEL_CHANNEL_BASE": _bare(backend, backend.uri(bucket, "models/base.bin")),
        "MLDOCK_OUTPUT_CHANNEL_RESULTS": _bare(backend, backend.uri(out_bucket, "run-1/results")),
        "MLDOCK_OUTPUT_MODEL_CHANNEL_FINAL": _bare(backend, backend.uri(out_bucket, "run-1/model")),
    }
    if backend.scheme == "file":
        (backend.root / out_bucket / "run-1").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "mldock", "train"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return result, base, out_bucket


def _read_back(backend, bucket: str, prefix: str, dest: Path) -> dict[str, bytes]:
    backend.remote().download(backend.uri(bucket, prefix), dest)
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def test_train_downloads_inputs_and_uploads_outputs(storage_backend, tmp_path: Path) -> None:
    result, base, out_bucket = _train(storage_backend, tmp_path)
    assert result.returncode == 0, result.stderr
    assert {
        p.relative_to(base / "input/data/train").as_posix()
        for p in (base / "input/data/train").rglob("*")
        if p.is_file()
    } == set(INPUTS)
    results = _read_back(storage_backend, out_bucket, "run-1/results", tmp_path / "results")
    assert results == {**{f"copy/{k}": v for k, v in INPUTS.items()}, "base-model.txt": b"base-model"[::-1]}
    model = _read_back(storage_backend, out_bucket, "run-1/model", tmp_path / "model")
    assert model == {"weights.bin": bytes(range(256)) * 300}
    assert ACCOUNT_KEY not in result.stderr  # secrets never reach the logs


def test_outputs_are_uploaded_after_a_failed_step(storage_backend, tmp_path: Path) -> None:
    result, base, out_bucket = _train(storage_backend, tmp_path, mode="fail")
    assert result.returncode != 0
    assert "deliberate failure" in (base / "output" / "failure").read_text()
    results = _read_back(storage_backend, out_bucket, "run-1/results", tmp_path / "results")
    assert results["base-model.txt"] == b"base-model"[::-1]


def test_missing_input_bucket_fails_startup_naming_the_uri(storage_backend, tmp_path: Path) -> None:
    missing = storage_backend.bucket_name()
    result, base, _ = _train(storage_backend, tmp_path, input_bucket=missing)
    assert result.returncode != 0
    failure = (base / "output" / "failure").read_text()
    assert missing in failure
    assert ACCOUNT_KEY not in failure
