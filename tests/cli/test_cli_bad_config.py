"""Every bad `mldock.json` is a user error: `mldock build` and `mldock run train` exit 2 with a message that names
the field, never an internal error, a traceback or a secret. One case per class of bad file (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Mldock

from mldock.project import load_project

pytestmark = [pytest.mark.integration]

PASSWORD = "hunter22-pw-7f3a"
SAS = "sig-Q2xvdWQtc2VjcmV0LTc3"


def _project(**fields: object) -> str:
    return json.dumps({"name": "bad-config", **fields})


def _stage_env(**environment: str) -> str:
    return _project(stages={"test": {"environment": environment}})


def _hyperparameter(raw: str) -> str:
    """A project whose test stage has hyperparameter `n` written as the raw JSON `raw`."""
    return '{"name": "p", "stages": {"test": {"hyperparameters": {"n": ' + raw + "}}}}"


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# (id, the file's text (str) or bytes, a fragment the message must hold, a secret it must not)
CASES: list[tuple[str, str | bytes, str, str | None]] = [
    ("empty-file", "", "not valid JSON", None),
    ("not-json", "{name: p}", "not valid JSON at line 1", None),
    ("trailing-comma", '{"name": "p",}', "not valid JSON", None),
    ("not-utf8", b'{"name": "caf\xe9"}', "cannot be read", None),
    ("top-level-array", "[1, 2]", "(top level)", None),
    ("name-missing", "{}", "name: this required field is missing", None),
    ("name-bad", _project(name="Bad Name"), "name: the value 'Bad Name'", None),
    ("unknown-field", _project(colour="red"), "unknown field(s) 'colour'", None),
    ("wrong-type", _project(stages={"test": {"hyperparameters": [1]}}), "stages.test.hyperparameters", None),
    ("bad-stage-name", _project(stages={"Te st": {}}), "stages.Te st", None),
    ("bad-train-target", _project(train="trainer"), "train: the value 'trainer'", None),
    (
        "env-value-object",
        _project(stages={"test": {"environment": {"A": {"b": 1}}}}),
        "stages.test.environment.A",
        None,
    ),
    (
        "huge-integer",
        '{"name": "p", "stages": {"test": {"hyperparameters": {"n": %s}}}}' % ("9" * 5000),
        "stages.test.hyperparameters.n: an integer of 5000 digits",
        None,
    ),
    ("huge-integer-resources", '{"name": "p", "resources": {"cpus": %s}}' % ("1" * 30), "resources.cpus", None),
    (
        "float-overflow",
        '{"name": "p", "stages": {"test": {"hyperparameters": {"lr": 1e999}}}}',
        "stages.test.hyperparameters.lr",
        None,
    ),
    (
        "nan",
        '{"name": "p", "stages": {"test": {"hyperparameters": {"lr": NaN}}}}',
        "stages.test.hyperparameters.lr: NaN",
        None,
    ),
    ("infinity", '{"name": "p", "resources": {"cpus": Infinity}}', "resources.cpus: Infinity", None),
    (
        "minus-infinity",
        '{"name": "p", "stages": {"test": {"hyperparameters": {"x": -Infinity}}}}',
        "stages.test.hyperparameters.x: -Infinity",
        None,
    ),
    ("duplicate-top-key", '{"name": "p", "name": "q"}', "the key 'name' is written more than once", None),
    (
        "duplicate-env-key",
        '{"name": "p", "stages": {"test": {"environment": {"A": "1", "A": "2"}}}}',
        "stages.test.environment: the key 'A'",
        None,
    ),
    ("duplicate-stage", '{"name": "p", "stages": {"test": {}, "test": {}}}', "stages: the key 'test'", None),
    ("nul-in-value", '{"name": "p", "description": "a\\u0000b"}', "description: the value", None),
    (
        "nul-in-env-value",
        '{"name": "p", "stages": {"test": {"environment": {"A": "x\\u0000y"}}}}',
        "stages.test.environment.A",
        None,
    ),
    (
        "nul-in-key",
        '{"name": "p", "stages": {"test": {"hyperparameters": {"a\\u0000": 1}}}}',
        "stages.test.hyperparameters: the key",
        None,
    ),
    ("lone-surrogate", '{"name": "p", "description": "\\ud800"}', "description: the value", None),
    ("raw-control-character", '{"name": "p", "description": "a\x01b"}', "not valid JSON", None),
    (
        "nested-150",
        _hyperparameter(_deep(150)),
        "stages.test.hyperparameters.n",
        None,
    ),
    (
        "nested-1000",
        _hyperparameter(_deep(1000)),
        "stages.test.hyperparameters.n",
        None,
    ),
    ("nested-100000", '{"name": "p", "description": ' + _deep(100_000) + "}", "description", None),
    ("requirements-absolute", _project(requirements="/etc/hostname"), "requirements: '/etc/hostname' is outside", None),
    ("requirements-escapes", _project(requirements="../../etc/hostname"), "requirements: '../../etc/hostname'", None),
    (
        "bucket-space",
        _stage_env(INPUT_CHANNEL_TRAIN="s3://Bad Bucket/x"),
        "stages.test.environment.INPUT_CHANNEL_TRAIN",
        None,
    ),
    (
        "bucket-azure-underscore",
        _stage_env(OUTPUT_CHANNEL_METRICS="az://A_B/x"),
        "stages.test.environment.OUTPUT_CHANNEL_METRICS",
        None,
    ),
    (
        "bucket-too-short",
        _stage_env(INPUT_CHANNEL_TRAIN="gs://ab/x"),
        "stages.test.environment.INPUT_CHANNEL_TRAIN",
        None,
    ),
    (
        "bucket-too-long",
        _stage_env(MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL="s3://" + "b" * 64 + "/m"),
        "stages.test.environment.MLDOCK_OUTPUT_MODEL_CHANNEL_MODEL",
        None,
    ),
    ("bucket-ip-address", _stage_env(INPUT_CHANNEL_TRAIN="s3://192.168.1.1/x"), "INPUT_CHANNEL_TRAIN", None),
    (
        "credentials-in-uri",
        _stage_env(INPUT_CHANNEL_TRAIN=f"s3://user:{PASSWORD}@bucket/x"),
        "stages.test.environment.INPUT_CHANNEL_TRAIN",
        PASSWORD,
    ),
    (
        "sas-in-uri",
        _stage_env(INPUT_MODEL_CHANNEL_MODEL=f"az://models/m?sv=2024&sig={SAS}"),
        "stages.test.environment.INPUT_MODEL_CHANNEL_MODEL",
        SAS,
    ),
    ("unsupported-scheme", _stage_env(INPUT_CHANNEL_TRAIN="http://example.com/x"), "INPUT_CHANNEL_TRAIN", None),
    ("empty-channel-name", _stage_env(INPUT_CHANNEL_="s3://bucket/x"), "stages.test.environment.INPUT_CHANNEL_", None),
    ("file-uri-root", _stage_env(OUTPUT_CHANNEL_ALL="file:////"), "stages.test.environment.OUTPUT_CHANNEL_ALL", None),
    (
        "platform-uri-bucket",
        _project(stages={"prod": {"platforms": {"sagemaker": {"output_path": "s3://B/x"}}}}),
        "stages.prod.platforms.sagemaker.output_path",
        None,
    ),
]


@pytest.mark.parametrize(
    "command", [("build",), ("run", "train", "--stage", "test", "--runner", "process")], ids=["build", "run"]
)
@pytest.mark.parametrize(("text", "fragment", "secret"), [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_a_bad_project_file_is_a_user_error_naming_the_field(
    mldock: Mldock, tmp_path: Path, command: tuple[str, ...], text: str | bytes, fragment: str, secret: str | None
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    (project / "mldock.json").write_bytes(data)
    (project / "trainer.py").write_text("def train(env):\n    pass\n")
    result = mldock(*command, "--project", str(project))
    output = result.stdout + result.stderr
    shown = f"exit {result.returncode}\n{output[-3000:]}"
    assert result.returncode == 2, shown
    assert "Traceback" not in output, shown
    assert "internal error" not in output, shown
    assert fragment in result.stderr, shown
    if secret is not None:
        assert secret not in output, shown


def test_a_utf8_bom_is_accepted_as_in_hyperparameters_files(tmp_path: Path) -> None:
    (tmp_path / "mldock.json").write_bytes(b"\xef\xbb\xbf" + _project(stages={"test": {}}).encode())
    assert load_project(tmp_path).name == "bad-config"
