"""A tiny container project for the harness tests, steered by hyperparameters as the platforms pass them.

`mode` (a string: SageMaker's SDK writes it JSON-quoted, `"\\"fail\\""`, and the runtime must unquote it;
Vertex AI and Azure ML pass `--mode=ok` on the command line): "ok" copies the `train` channel's rows into
model.json and a metrics output and logs the metric `rows`; "fuse" does the same and also writes
through-fuse.txt into AIP_MODEL_DIR through /gcs (Vertex AI's Cloud Storage FUSE); "fail" raises; "sleep"
writes the model first, then sleeps (the stop-deadline scenario). The predictor answers `{"predictions": [...]}`
(the model's row count per instance, as Vertex AI wants) with the row count, the request's content type and
SageMaker's custom attributes (it takes the `context` keyword).
"""

from __future__ import annotations

import json
from pathlib import Path

from mldock.project.config import ProjectConfig, load_project

BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"

TRAINER = """
import json
import os
import time
from pathlib import Path

from mldock import ChannelKind


def train(env):
    mode = env.hyperparameters.get("mode", str, default="ok")
    print(f"mode {mode!r}, epochs {env.hyperparameters.get('epochs', int)}", flush=True)
    rows = sorted(p.name for p in env.channel("train").path.rglob("*") if p.is_file())
    model = env.channel("model", ChannelKind.OUTPUT_MODEL).path
    (model / "model.json").write_text(json.dumps({"rows": rows, "mode": mode}))
    if mode == "fail":
        raise ValueError("deliberate failure: the data is bad " + "x" * 3000)
    if mode == "fuse":  # Vertex AI: write beside the model through Cloud Storage FUSE's /gcs/<bucket>/...
        fuse = Path("/gcs") / os.environ["AIP_MODEL_DIR"].removeprefix("gs://") / "through-fuse.txt"
        fuse.parent.mkdir(parents=True, exist_ok=True)
        fuse.write_text("written through /gcs")
    if mode == "sleep":
        print("sleeping", flush=True)
        time.sleep(600)
    metrics = env.channel("metrics", ChannelKind.OUTPUT).path
    metrics.mkdir(parents=True, exist_ok=True)
    (metrics / "metrics.json").write_text(json.dumps({"rows": len(rows)}))
    env.log_metric("rows", len(rows))
"""

PREDICTOR = """
import json

from mldock import ChannelKind


class Predictor:
    def __init__(self, env):
        self.model = json.loads((env.channel("model", ChannelKind.INPUT_MODEL).path / "model.json").read_text())

    def predict(self, body, content_type, accept, *, context):
        instances = json.loads(body).get("instances", []) if content_type == "application/json" else []
        rows = len(self.model["rows"])
        return {"predictions": [rows] * len(instances), "rows": rows, "content_type": content_type,
                "attributes": context.custom_attributes}
"""

REQUIREMENTS = "google-cloud-storage>=2.16\n"
"""Vertex AI hands the job gs:// URIs: the image carries the GCS SDK, as a project meant for Vertex AI does."""

CONFIG = {
    "name": "harness-test",
    "base_image": BASE_IMAGE,
    "requirements": "requirements.txt",
    "stages": {
        "test": {
            "environment": {
                "INPUT_CHANNEL_TRAIN": "s3://harness-data/train",
                "OUTPUT_MODEL_CHANNEL_MODEL": "s3://harness-models/model",
                "OUTPUT_CHANNEL_METRICS": "s3://harness-metrics/metrics",
            },
            "hyperparameters": {"mode": "ok", "epochs": 3},
            "seed": {"train": "data/train"},
        }
    },
}


def write_project(root: Path) -> ProjectConfig:
    """The project in `root` (made): mldock.json, trainer.py, predictor.py, data/train, payload.json,
    requirements.txt."""
    (root / "data" / "train").mkdir(parents=True)
    (root / "data" / "train" / "a.csv").write_text("x,y\n1,2\n")
    (root / "data" / "train" / "b.csv").write_text("x,y\n3,4\n")
    (root / "mldock.json").write_text(json.dumps(CONFIG, indent=2))
    (root / "trainer.py").write_text(TRAINER)
    (root / "predictor.py").write_text(PREDICTOR)
    (root / "payload.json").write_text('{"instances": [[1, 2]]}')
    (root / "requirements.txt").write_text(REQUIREMENTS)
    return load_project(root)
