"""A tiny container project for the plugin's pytester tests: trainer, assets, predictor, stages.

Stage `test` names s3:// and gs:// channels (the plugin points them at fresh emulated buckets), a secret-looking
variable, hyperparameters, and a seed folder for the `train` input. Stage `prod` is a production stage whose
channels are `file://` folders standing in for the cloud.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

__all__ = ["SECRET", "write_sample_project"]

SECRET = "tok-very-secret-4242"
"""The value of MLDOCK_API_TOKEN in stage `test`: it must never appear in a report."""

TRAINER = '''
import json
import os

from mldock import ChannelKind


def train(env):
    data = (env.channel("train").path / "data.csv").read_text()
    if "BAD" in data:
        print("about to fail; token is", os.environ.get("MLDOCK_API_TOKEN"), flush=True)
        raise ValueError("column 'y' is missing from data.csv")
    rows = [line for line in data.splitlines() if line]
    epochs = env.hyperparameters.get("epochs", int)
    metrics = env.channel("metrics", ChannelKind.OUTPUT).path
    (metrics / "metrics.json").write_text(json.dumps({
        "rows": len(rows),
        "epochs": epochs,
        "stage": env.stage,
        "greeting": env.settings.get("GREETING"),
        "hyperparameters": env.hyperparameters.to_dict(),
    }, sort_keys=True))
    model = env.channel("model", ChannelKind.OUTPUT_MODEL).path
    (model / "model.json").write_text(json.dumps({"scale": len(rows)}))
    print(f"trained {epochs} epochs on {len(rows)} rows", flush=True)
'''

ASSETS = '''
from mldock import TrainingContainer, on_cleanup


class Training(TrainingContainer):
    @on_cleanup(stages=["test"])
    def say_goodbye(self):
        print("cleanup step of stage", self.env.stage, flush=True)
'''

PREDICTOR = '''
import json


class Predictor:
    def __init__(self, env):
        self.scale = env.hyperparameters.get("scale", float, default=2.0)

    def predict(self, body, content_type, accept):
        rows = json.loads(body)["rows"]
        return {"predictions": [sum(row) * self.scale for row in rows]}
'''


def write_sample_project(
    pytester: pytest.Pytester,
    *,
    folder: str = "",
    prod_dir: Path | None = None,
    base_image: str | None = None,
    requirements: str | None = None,
) -> Path:
    """Write the sample project into pytester's folder (its rootdir) or a `folder` below it; `prod_dir` holds
    the prod stage's data. `base_image` and `requirements` are for the docker runner."""
    root = pytester.path / folder if folder else pytester.path
    root.mkdir(parents=True, exist_ok=True)
    prod = prod_dir or pytester.path / "prod-storage"
    config: dict[str, object] = {
        "name": "sample",
        "stages": {
            "test": {
                "environment": {
                    "INPUT_CHANNEL_TRAIN": "s3://data/train",
                    "OUTPUT_CHANNEL_METRICS": "gs://results/metrics",
                    "OUTPUT_MODEL_CHANNEL_MODEL": "s3://models/model",
                    "GREETING": "hello",
                    "API_TOKEN": SECRET,
                },
                "hyperparameters": {"epochs": 3},
                "seed": {"train": "data/train"},
            },
            "prod": {
                "production": True,
                "environment": {
                    "INPUT_CHANNEL_TRAIN": (prod / "train").as_uri(),
                    "OUTPUT_CHANNEL_METRICS": (prod / "metrics").as_uri(),
                    "OUTPUT_MODEL_CHANNEL_MODEL": (prod / "model").as_uri(),
                },
                "hyperparameters": {"epochs": 5},
            },
        },
    }
    if base_image:
        config["base_image"] = base_image
    (root / "mldock.json").write_text(json.dumps(config, indent=2))
    for name, text in (("trainer", TRAINER), ("assets", ASSETS), ("predictor", PREDICTOR)):
        (root / f"{name}.py").write_text(text.lstrip())
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    seed = root / "data" / "train"
    seed.mkdir(parents=True)
    (seed / "data.csv").write_text("x,y\n1,2\n3,4\n")
    (prod / "train").mkdir(parents=True, exist_ok=True)
    (prod / "train" / "data.csv").write_text("x,y\n" + "".join(f"{i},{i}\n" for i in range(9)))
    (prod / "metrics").mkdir(exist_ok=True)
    (prod / "model").mkdir(exist_ok=True)
    return root
