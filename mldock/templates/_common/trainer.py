"""The training step: read labelled CSV rows from the `train` channel, fit a nearest-centroid classifier,
write the model to the `model` channel and metrics to the `metrics` channel.

CSV layout: a header, numeric feature columns, the label in the last column.

A bad hyperparameter or input data without rows is the user's mistake: `UserError`, so the task exits 2 with the
reason in the failure file (any other exception is a failed step, exit 1, with its traceback in the logs).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from mldock import ChannelKind, Environment, UserError

logger = logging.getLogger(__name__)

Centroids = dict[str, list[float]]


def load_rows(folder: Path) -> tuple[list[list[float]], list[str]]:
    """Every row of every CSV file below `folder`: (features, labels)."""
    features: list[list[float]] = []
    labels: list[str] = []
    for path in sorted(folder.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader, None)  # header
            for row in reader:
                if row:
                    features.append([float(value) for value in row[:-1]])
                    labels.append(row[-1])
    if not features:
        raise UserError(f"no CSV rows below {folder}")
    return features, labels


def fit(features: list[list[float]], labels: list[str], shrinkage: float = 0.0) -> Centroids:
    """One centroid per label, pulled towards the overall mean by `shrinkage` (0: none, 1: all the way)."""
    if not 0.0 <= shrinkage <= 1.0:
        raise UserError(f"hyperparameter shrinkage must be between 0 and 1, got {shrinkage}")
    width = len(features[0])
    overall = [sum(row[i] for row in features) / len(features) for i in range(width)]
    centroids: Centroids = {}
    for label in sorted(set(labels)):
        rows = [row for row, other in zip(features, labels, strict=True) if other == label]
        mean = [sum(row[i] for row in rows) / len(rows) for i in range(width)]
        centroids[label] = [(1 - shrinkage) * m + shrinkage * o for m, o in zip(mean, overall, strict=True)]
    return centroids


def predict(centroids: Centroids, row: list[float]) -> str:
    """The label whose centroid is nearest to `row`."""
    return min(centroids, key=lambda label: sum((a - b) ** 2 for a, b in zip(centroids[label], row, strict=True)))


def train(env: Environment) -> None:
    shrinkage = env.hyperparameters.get("shrinkage", float, default=0.0)
    features, labels = load_rows(env.channel("train").path)
    centroids = fit(features, labels, shrinkage)
    correct = sum(predict(centroids, row) == label for row, label in zip(features, labels, strict=True))
    metrics = {"rows": len(features), "classes": len(centroids), "train_accuracy": correct / len(features)}
    logger.info("trained on %d rows: %s", len(features), metrics)

    model_dir = env.channel("model", ChannelKind.OUTPUT_MODEL).path
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(json.dumps({"centroids": centroids}), encoding="utf-8")
    metrics_dir = env.channel("metrics", ChannelKind.OUTPUT).path
    metrics_dir.mkdir(parents=True, exist_ok=True)
    (metrics_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
