"""The public names of `mldock`, and the runtime's promise to import only the standard library."""

from __future__ import annotations

import json
import subprocess
import sys

import mldock
import mldock.errors

EXPECTED = {
    "Environment",
    "TrainingContainer",
    "ServingContainer",
    "on_startup",
    "on_cleanup",
    "Channel",
    "ChannelKind",
    "Hyperparameters",
    "InstancesPredictor",
    "parse_instances",
    "predictions_response",
    *mldock.errors.__all__,
}


def test_all_is_exact_and_importable() -> None:
    assert set(mldock.__all__) == EXPECTED
    assert len(mldock.__all__) == len(EXPECTED)
    for name in mldock.__all__:
        assert getattr(mldock, name) is not None


FORBIDDEN = ["docker", "click", "rich", "jsonschema", "boto3", "botocore", "google", "azure", "waitress"]


def _modules_after(imports: str) -> set[str]:
    code = f"import sys, json{imports}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_runtime_imports_no_tooling_or_sdk_module() -> None:
    # what the interpreter loads by itself (site-packages' .pth files may load a namespace package such as
    # `google`) is not the runtime's doing: only what importing the runtime adds counts
    baseline = _modules_after("")
    added = _modules_after(
        ", mldock, mldock.contract, mldock.runtime.entrypoint, mldock.runtime.prediction_app, mldock.runtime.step"
    )
    loaded = {name.split(".")[0] for name in added - baseline}
    assert loaded.isdisjoint(FORBIDDEN), loaded & set(FORBIDDEN)
