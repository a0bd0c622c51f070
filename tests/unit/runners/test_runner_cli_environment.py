"""`-e KEY=VALUE`: the MLDOCK_ prefix is added except to a cloud SDK's own variable; `--pass-env` is checked."""

from __future__ import annotations

import click
import pytest

from mldock.cli.common import parse_environment, parse_pass_env


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("LOG_LEVEL=debug", "MLDOCK_LOG_LEVEL"),
        ("MLDOCK_LOG_LEVEL=debug", "MLDOCK_LOG_LEVEL"),
        ("INPUT_CHANNEL_X=s3://b/p", "MLDOCK_INPUT_CHANNEL_X"),
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
