"""`mldock run train` leaks no secret: not in its output, --json, result.json or logs.txt, whatever the step
prints and however the secret reached the task (hyperparameter, -e, a credential in the shell, a URI)."""

from __future__ import annotations

import json
from pathlib import Path

TRAINER = """
import json, os

def train(env):
    print("env:", dict(os.environ))
    print("hp:", json.dumps(dict(env.hyperparameters)))
    (env.output_dir / "metrics" / "m.json").write_text("{}")
    token = env.hyperparameters.get("api_token", str)
    raise RuntimeError("token was " + token + " " + os.environ["AWS_SECRET_ACCESS_KEY"])
"""

TOKEN = "hp-token-secret-42"
SHELL_KEY = "shell-exported-secret-key-7"
SETTING_PASSWORD = "setting-pa55-word"


def test_run_train_json_and_run_folder_hold_no_secret(tmp_path: Path, mldock) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "p"
    project.mkdir()
    (project / "trainer.py").write_text(TRAINER)
    outputs = tmp_path / "out"
    (project / "mldock.json").write_text(
        json.dumps(
            {
                "name": "secrets",
                "base_image": "localhost/mldock-python:3.11-bookworm",
                "stages": {"dev": {"environment": {"OUTPUT_CHANNEL_METRICS": outputs.as_uri()}}},
            }
        )
    )
    run_dir = tmp_path / "run"
    result = mldock(
        "run", "train", "--project", str(project), "--runner", "process", "--json", "-o", str(run_dir),
        "-p", f"api_token={TOKEN}",
        "-e", f"DB_URL=postgres://user:{SETTING_PASSWORD}@db/x",
        env={"AWS_SECRET_ACCESS_KEY": SHELL_KEY},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["hyperparameters"]["api_token"] == "***"
    written = [result.stdout, result.stderr]
    written += [p.read_text() for p in run_dir.rglob("*") if p.is_file() and p.suffix in (".json", ".txt")]
    assert (run_dir / "result.json").is_file()
    assert (run_dir / "logs.txt").is_file()
    assert any("token was" in text for text in written)
    for text in written:
        for secret in (TOKEN, SHELL_KEY, SETTING_PASSWORD):
            assert secret not in text
