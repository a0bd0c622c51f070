"""A step that prints its whole environment and raises with its secrets in the message publishes none of them:
not on the entrypoint's stdout or stderr, not in the failure file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TRAINER = """
import json, os, sys

def train(env):
    print("environment:", dict(os.environ))
    print("repr:", repr(os.environ.get("SERVICE_ACCOUNT_KEY")), file=sys.stderr)
    print("hyperparameters:", json.dumps(dict(env.hyperparameters)))
    print("channel:", env.channel("data").uri)
    metrics = env.output_dir / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    env.log_metric("loss", 0.5, step=1)
    raise RuntimeError(
        f"cannot log in with {os.environ['AWS_SECRET_ACCESS_KEY']} / {env.hyperparameters.get('api_token', str)}"
    )
"""

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY",
    "SERVICE_ACCOUNT_KEY": '{\n  "private_key": "-----BEGIN KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEF\\n"\n}\n',
}
TOKEN = "hp-token-0123456789"
URI_PASSWORD = "uri-pa55w0rd-xyz"


def test_no_secret_in_any_output_of_a_failing_step(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "trainer.py").write_text(TRAINER)
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("x\n1\n")
    base = tmp_path / "base"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLDOCK_")},
        **SECRETS,
        "MLDOCK_BASE_DIR": str(base),
        "MLDOCK_PROJECT_DIR": str(project),
        "MLDOCK_INPUT_CHANNEL_DATA": data.as_uri(),
        "MLDOCK_HYPERPARAMETERS": json.dumps({"api_token": TOKEN, "lr": 0.1}),
        "MLDOCK_NOTE": f"postgres://user:{URI_PASSWORD}@db.internal/x",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mldock", "train"], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    outputs = {"stdout": done.stdout, "stderr": done.stderr, "failure": (base / "output" / "failure").read_text()}
    assert "environment:" in outputs["stdout"]  # the step's output did pass through
    assert "***" in outputs["stdout"]  # masked, not missing
    assert "mldock-metric: loss=0.5 step=1" in outputs["stderr"]
    assert "cannot log in with" in outputs["failure"]
    for where, text in outputs.items():
        for secret in (*SECRETS.values(), TOKEN, URI_PASSWORD, "MIIEvQIBADANBgkqhkiG9w0BAQEF"):
            assert secret not in text, f"{where} leaks {secret[:12]}..."
