"""Train a random forest on the CSV files of the `train` channel (GCS), write the model to `model` (S3) and
the evaluation to `metrics` (Azure Blob).

CSV layout: a header, numeric feature columns, the label in the last column.
Hyperparameters: n_estimators, max_depth (null: unlimited), test_size, random_state.
Bad data or a hyperparameter out of range is the user's mistake: `UserError`, exit code 2, the reason in the
failure file.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from mldock import ChannelKind, Environment, UserError

logger = logging.getLogger(__name__)


def read_table(folder: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(feature names, features, labels) from every CSV file below `folder`; one header for all."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    for path in sorted(folder.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            this_header = next(reader, None)
            if this_header is None:
                continue
            if header is not None and this_header != header:
                raise UserError(f"{path.name}: its header differs from the first file's")
            header = this_header
            rows += [row for row in reader if row]
    if header is None or not rows:
        raise UserError(f"no CSV rows below {folder}")
    try:
        features = np.array([[float(value) for value in row[:-1]] for row in rows])
    except ValueError as exc:
        raise UserError(f"a feature value is not a number: {exc}") from exc
    return header[:-1], features, np.array([row[-1] for row in rows])


def train(env: Environment) -> None:
    params = env.hyperparameters
    n_estimators = params.get("n_estimators", int, default=100)
    max_depth = None if params.get("max_depth") is None else params.require("max_depth", int)
    test_size = params.get("test_size", float, default=0.25)
    random_state = params.get("random_state", int, default=0)
    if n_estimators < 1:
        raise UserError(f"hyperparameter n_estimators must be at least 1, got {n_estimators}")
    if not 0.0 < test_size < 1.0:
        raise UserError(f"hyperparameter test_size must be between 0 and 1 (exclusive), got {test_size}")

    names, features, labels = read_table(env.channel("train").path)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=test_size, random_state=random_state, stratify=labels
    )
    model = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=random_state)
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
        "rows_train": len(x_train),
        "rows_test": len(x_test),
        "hyperparameters": {
            "n_estimators": n_estimators,
            "max_depth": max_depth,
            "test_size": test_size,
            "random_state": random_state,
        },
    }
    logger.info("accuracy %.3f, f1 %.3f on %d held-out rows", metrics["accuracy"], metrics["f1_macro"], len(x_test))

    model_dir = env.channel("model", ChannelKind.OUTPUT_MODEL).path
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "model.joblib")
    signature = {"features": names, "classes": [str(c) for c in model.classes_], "sklearn": sklearn.__version__}
    (model_dir / "signature.json").write_text(json.dumps(signature, indent=2), encoding="utf-8")

    metrics_dir = env.channel("metrics", ChannelKind.OUTPUT).path
    metrics_dir.mkdir(parents=True, exist_ok=True)
    (metrics_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
