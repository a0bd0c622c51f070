"""`mldock` as a process: --help everywhere, exit codes, plain errors for user mistakes, --debug tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, Mldock, assert_plain_error

COMMANDS = [
    [],
    ["init"],
    ["build"],
    ["base-image"],
    ["run"],
    ["run", "train"],
    ["serve"],
    ["predict"],
    ["emulators"],
    ["emulators", "up"],
    ["emulators", "env"],
    ["emulators", "down"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "mldock")
def test_every_command_has_help(mldock: Mldock, command: list[str]) -> None:
    result = mldock(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: mldock"), result.stdout


def test_version(mldock: Mldock) -> None:
    result = mldock("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("mldock, version ")


def test_an_unknown_command_is_a_usage_error(mldock: Mldock) -> None:
    assert_plain_error(mldock("trian"), 2, "No such command 'trian'")


def test_a_missing_project_says_how_to_make_one(mldock: Mldock, tmp_path: Path) -> None:
    assert_plain_error(mldock("run", "train", "--project", str(tmp_path / "none")), 2, "not found; run `mldock init")


def _bad_project(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "mldock.json").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", [["run", "train"], ["serve"], ["build"]], ids=lambda c: " ".join(c))
def test_a_bad_mldock_json_names_the_field(mldock: Mldock, tmp_path: Path, command: list[str]) -> None:
    folder = _bad_project(tmp_path, '{"name": "ok", "stages": {"dev": {"production": "yes"}}}')
    assert_plain_error(
        mldock(*command, "--project", str(folder)), 2, "stages.dev.production: expected boolean, got str"
    )


def test_invalid_json_gives_the_line(mldock: Mldock, tmp_path: Path) -> None:
    folder = _bad_project(tmp_path, '{\n  "name": "ok",\n}\n')
    assert_plain_error(mldock("run", "train", "--project", str(folder)), 2, "not valid JSON at line 3")


def test_an_unknown_stage_lists_the_known_ones(mldock: Mldock) -> None:
    result = mldock("run", "train", "--stage", "staging", "--project", str(EXAMPLES / "sklearn-train"))
    assert_plain_error(result, 2, "no stage named 'staging' (stages: dev, prod, test)")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["-p", "n_estimators"], "'-p': 'n_estimators' is not of the form key=value", id="p-no-equals"),
        pytest.param(["-p", "=3"], "'-p': '=3' is not of the form key=value", id="p-no-key"),
        pytest.param(["-e", "1BAD=x"], "'-e': '1BAD' is not a variable name", id="e-bad-key"),
        pytest.param(["-e", "NOVALUE"], "'-e': 'NOVALUE' is not of the form KEY=VALUE", id="e-no-equals"),
        pytest.param(["--seed", "train"], "'--seed': 'train' is not of the form CHANNEL=DIR", id="seed-form"),
        pytest.param(["--seed", "train=/nonexistent"], "'/nonexistent' is not a folder", id="seed-missing"),
        pytest.param(["--runner", "kubernetes"], "'kubernetes' is not one of 'docker', 'process'", id="runner"),
        pytest.param(["--timeout", "0"], "--timeout", id="timeout-zero"),
        pytest.param(["--pass-env", "MLDOCK_STAGE"], "'--pass-env': 'MLDOCK_STAGE' would pass", id="pass-env-mldock"),
        pytest.param(["--pass-env", "A-B"], "'--pass-env': 'A-B' is not a variable name", id="pass-env-bad"),
    ],
)
def test_bad_arguments_are_named(mldock: Mldock, args: list[str], fragment: str) -> None:
    result = mldock("run", "train", "--project", str(EXAMPLES / "sklearn-train"), "--runner", "process", *args)
    assert_plain_error(result, 2, fragment)


def test_a_seed_for_a_channel_the_stage_lacks_is_refused(mldock: Mldock, tmp_path: Path) -> None:
    project = str(EXAMPLES / "sklearn-train")
    result = mldock("run", "train", "--project", project, "--runner", "process", "--seed", f"nope={tmp_path}")
    assert_plain_error(result, 2, "the stage has no input channel 'nope'", "MLDOCK_INPUT_CHANNEL_NOPE")


def test_a_bad_channel_variable_from_e_is_a_user_error(mldock: Mldock) -> None:
    result = mldock(
        "run", "train", "--project", str(EXAMPLES / "sklearn-train"), "--runner", "process",
        "-e", "INPUT_CHANNEL_EXTRA=ftp://host/x",
    )  # fmt: skip
    assert_plain_error(result, 2, "MLDOCK_INPUT_CHANNEL_EXTRA", "unsupported URI scheme")


def test_debug_shows_the_traceback(mldock: Mldock, tmp_path: Path) -> None:
    missing = str(tmp_path / "none")
    for result in (
        mldock("--debug", "run", "train", "--project", missing),
        mldock("run", "train", "--project", missing, env={"MLDOCK_DEBUG": "1"}),
    ):
        assert result.returncode == 2
        assert "Traceback" in result.stderr
        assert "ConfigError" in result.stderr


def test_predict_without_an_endpoint_fails_plainly(mldock: Mldock, tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"instances": [[1]]}', encoding="utf-8")
    result = mldock("predict", "--payload", str(payload), "--url", "http://127.0.0.1:9/invocations", "--timeout", "5")
    assert_plain_error(result, 1, "no endpoint answered at http://127.0.0.1:9/invocations", "mldock serve")


def test_predict_needs_an_existing_payload(mldock: Mldock, tmp_path: Path) -> None:
    assert_plain_error(mldock("predict", "--payload", str(tmp_path / "nope.json")), 2, "does not exist")


def test_emulators_env_without_emulators(mldock: Mldock) -> None:
    assert_plain_error(mldock("emulators", "env"), 2, "no emulators are running")
    result = mldock("emulators", "down", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"emulators": [], "stopped": False}
