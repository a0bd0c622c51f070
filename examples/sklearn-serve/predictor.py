"""Serve the random forest trained by examples/sklearn-train: its `model` channel (S3) holds model.joblib and
signature.json (feature names, classes).

    POST /invocations  application/json  {"instances": [[14.23, 1.71, ...], ...]}   (or objects by feature name)
                       -> {"predictions": ["class_0", ...], "probabilities": [[0.9, 0.1, 0.0], ...]}
    POST /invocations  text/csv          one row of features per line (a header line is allowed)
                       -> one label per line (Accept: text/csv) or the JSON answer above
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import joblib
import numpy as np

from mldock import ChannelKind, Environment, UserError


class Predictor:
    def __init__(self, env: Environment) -> None:
        folder = env.channel("model", ChannelKind.INPUT_MODEL).path
        self.model = joblib.load(folder / "model.joblib")
        signature = json.loads((folder / "signature.json").read_text(encoding="utf-8"))
        self.features: list[str] = signature["features"]

    def predict(self, body: bytes, content_type: str, accept: str) -> Any:
        rows = self._csv_rows(body) if content_type.startswith("text/csv") else self._json_rows(body)
        matrix = np.array(rows, dtype=float)
        labels = [str(label) for label in self.model.predict(matrix)]
        if "text/csv" in accept:
            return "\n".join(labels) + "\n", "text/csv"
        probabilities = self.model.predict_proba(matrix).round(4).tolist()
        return {"predictions": labels, "probabilities": probabilities}

    def _json_rows(self, body: bytes) -> list[list[float]]:
        try:
            instances = json.loads(body)["instances"]
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError('expected a JSON object {"instances": [[...], ...]}') from exc
        if not isinstance(instances, list) or not instances:
            raise UserError('"instances" must be a non-empty list')
        return [self._row(item) for item in instances]

    def _csv_rows(self, body: bytes) -> list[list[float]]:
        lines = [row for row in csv.reader(io.StringIO(body.decode("utf-8"))) if row]
        if lines and lines[0] == self.features:
            lines = lines[1:]
        if not lines:
            raise UserError("the CSV payload holds no rows")
        return [self._row(line) for line in lines]

    def _row(self, item: Any) -> list[float]:
        if isinstance(item, dict):
            missing = [name for name in self.features if name not in item]
            if missing:
                raise UserError(f"missing feature(s): {', '.join(missing)}")
            item = [item[name] for name in self.features]
        if not isinstance(item, list) or len(item) != len(self.features):
            raise UserError(f"each instance needs {len(self.features)} features ({', '.join(self.features)})")
        try:
            return [float(value) for value in item]
        except (TypeError, ValueError) as exc:
            raise UserError(f"a feature value is not a number: {exc}") from exc
