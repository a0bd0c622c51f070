"""A tiny container project for the engine tests."""

from __future__ import annotations

import json
from pathlib import Path

from mldock.project.config import ProjectConfig, load_project


def write_project(root: Path, base: str, *, requirements: str | None = None, extra: dict[str, str] | None = None
                  ) -> ProjectConfig:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mldock.json").write_text(json.dumps({"name": "engine-test", "base_image": base}))
    (root / "trainer.py").write_text("def train(env):\n    print('trained in the image')\n")
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    for name, text in (extra or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return load_project(root)
