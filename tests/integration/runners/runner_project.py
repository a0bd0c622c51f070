"""Helpers of the runner integration tests: a tiny container project and file-tree comparison.

The trainer is steered by hyperparameters: `copy` maps input channel → output channel (folders copied byte
for byte), `mode` = "fail" raises, "sleep" sleeps long (for timeouts). The predictor multiplies by `scale`.
"""

from __future__ import annotations

import json
from pathlib import Path

from mldock.project.config import ProjectConfig, load_project

BASE_IMAGE = "localhost/mldock-python:3.11-bookworm"

TRAINER = '''
import json
import shutil
import sys
import time


def train(env):
    hp = env.hyperparameters
    mode = hp.get("mode", str, default="copy")
    print(f"training in stage {env.stage} with {hp.to_json()}", flush=True)
    if mode == "sleep":
        print("sleeping", flush=True)
        time.sleep(600)
    if mode == "fail":
        raise RuntimeError("deliberate failure: the data is bad")
    for source, target in (hp.get("copy") or {}).items():
        shutil.copytree(env.input_data_dir / source, env.output_dir / target, dirs_exist_ok=True)
    model = env.model_dir / "model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "params.json").write_text(json.dumps(hp.to_dict(), sort_keys=True))
    print("training done", flush=True)
'''

PREDICTOR = '''
import json


class Predictor:
    def __init__(self, env):
        self.scale = env.hyperparameters.get("scale", float, default=2.0)
        print(f"predictor loaded in stage {env.stage}", flush=True)

    def predict(self, body, content_type, accept):
        data = json.loads(body)
        return {"y": [x * self.scale for x in data["x"]]}
'''


def write_project(root: Path, name: str = "runner-demo", requirements: str = "") -> ProjectConfig:
    """Write the demo project into `root` and load it."""
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "name": name,
        "base_image": BASE_IMAGE,
        "stages": {
            "test": {"environment": {"GREETING": "hello"}, "hyperparameters": {"scale": 3}},
        },
    }
    (root / "mldock.json").write_text(json.dumps(config, indent=2))
    (root / "trainer.py").write_text(TRAINER)
    (root / "predictor.py").write_text(PREDICTOR)
    (root / "requirements.txt").write_text(requirements)
    return load_project(root)


def tree(root: Path) -> dict[str, bytes]:
    """Every file below `root`, relative path → content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def seed_files(root: Path) -> dict[str, bytes]:
    """A small nested tree with binary content; returns it as `tree()` would."""
    files = {
        "a.txt": b"alpha\n",
        "nested/b.bin": bytes(range(256)) * 40,
        "nested/deeper/c.csv": b"x,y\n1,2\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files
