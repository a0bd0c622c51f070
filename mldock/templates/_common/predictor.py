"""The serving handler: load the model from the `model` channel, answer JSON or CSV.

    POST /invocations  Content-Type: application/json  {"instances": [[5.1, 3.5, 1.4, 0.2]]}
                       -> {"predictions": ["setosa"]}
    POST /invocations  Content-Type: text/csv           5.1,3.5,1.4,0.2
                       -> setosa
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from trainer import Centroids, predict

from mldock import ChannelKind, Environment


class Predictor:
    def __init__(self, env: Environment) -> None:
        path = env.channel("model", _model_kind(env)).path / "model.json"
        self.centroids: Centroids = json.loads(path.read_text(encoding="utf-8"))["centroids"]

    def predict(self, body: bytes, content_type: str, accept: str) -> Any:
        if content_type.startswith("text/csv"):
            rows = [[float(v) for v in row] for row in csv.reader(io.StringIO(body.decode("utf-8"))) if row]
            labels = [predict(self.centroids, row) for row in rows]
            return "\n".join(labels) + "\n", "text/csv"
        instances = json.loads(body)["instances"]
        return {"predictions": [predict(self.centroids, [float(v) for v in row]) for row in instances]}


def _model_kind(env: Environment) -> ChannelKind:
    """The input model channel when there is one (serving), else the output one (same folder)."""
    names = {(c.kind, c.name) for c in env.channels}
    return ChannelKind.INPUT_MODEL if (ChannelKind.INPUT_MODEL, "model") in names else ChannelKind.OUTPUT_MODEL
