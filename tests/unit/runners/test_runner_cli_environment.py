"""CLI arguments: `-e` keeps an SDK variable's name, `--pass-env` is checked, `serve --model [CHANNEL=]DIR`."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from mldock.cli.common import parse_environment, parse_pass_env
from mldock.cli.serve import model_channel, parse_model
from mldock.errors import UserError
from mldock.runtime.channels import parse_channels


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("LOG_LEVEL=debug", "MLDOCK_LOG_LEVEL"),
        ("MLDOCK_LOG_LEVEL=debug", "MLDOCK_LOG_LEVEL"),
        ("INPUT_CHANNEL_X=s3://bkt/p", "MLDOCK_INPUT_CHANNEL_X"),
        ("AWS_REGION=eu-west-1", "AWS_REGION"),
        ("AWS_ACCESS_KEY_ID=AKIA", "AWS_ACCESS_KEY_ID"),
        ("AZURE_STORAGE_CONNECTION_STRING=x", "AZURE_STORAGE_CONNECTION_STRING"),
        ("GOOGLE_CLOUD_PROJECT=p", "GOOGLE_CLOUD_PROJECT"),
        ("STORAGE_EMULATOR_HOST=http://h:1", "STORAGE_EMULATOR_HOST"),
        ("HTTPS_PROXY=http://p:3128", "HTTPS_PROXY"),
    ],
)
def test_sdk_variables_keep_their_name(given: str, expected: str) -> None:
    assert list(parse_environment([given])) == [expected]


def test_pass_env_entries_are_checked() -> None:
    assert parse_pass_env(["MY_TOKEN", "TEAM_*"]) == ("MY_TOKEN", "TEAM_*")
    with pytest.raises(click.BadParameter, match="'MLDOCK_X' would pass MLDOCK_"):
        parse_pass_env(["MLDOCK_X"])


# -- mldock serve --model [CHANNEL=]DIR ----------------------------------------------------------------------

_MODEL_CHANNELS = parse_channels(
    {
        "MLDOCK_INPUT_MODEL_CHANNEL_MODEL": "s3://mdl/model",
        "MLDOCK_INPUT_MODEL_CHANNEL_WARM_START": "s3://mdl/warm",
        "MLDOCK_OUTPUT_MODEL_CHANNEL_TUNED": "s3://mdl/tuned",
    },
    Path("/opt/ml"),
)


def test_model_names_its_channel_or_takes_the_one_serving_uses(tmp_path: Path) -> None:
    assert parse_model(f"model={tmp_path}") == ("model", tmp_path.resolve())
    assert parse_model(str(tmp_path)) == (None, tmp_path.resolve())
    assert model_channel(_MODEL_CHANNELS, "warm_start") == ("warm_start", {})
    assert model_channel(_MODEL_CHANNELS, "tuned") == ("tuned", {"MLDOCK_INPUT_MODEL_CHANNEL_TUNED": "s3://mdl/tuned"})
    assert model_channel(_MODEL_CHANNELS, None, ("model",)) == ("model", {})


def test_model_refuses_what_it_cannot_place(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="name it: --model CHANNEL=DIR"):
        model_channel(_MODEL_CHANNELS)  # two input model channels, no serve_channels
    with pytest.raises(UserError, match="no model channel 'nope'"):
        model_channel(_MODEL_CHANNELS, "nope")
    with pytest.raises(click.BadParameter, match="'Bad Name' is not a channel name"):
        parse_model(f"Bad Name={tmp_path}")
    with pytest.raises(click.BadParameter, match="is not a folder"):
        parse_model(f"model={tmp_path / 'missing'}")
