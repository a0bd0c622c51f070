"""Secret-named variables are masked in mappings and in free text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.runtime.redact import MASK, is_secret_name, redact_environ, redact_mapping, redact_text, secret_values


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        pytest.param("AWS_SECRET_ACCESS_KEY", True, id="aws-secret"),
        pytest.param("AWS_ACCESS_KEY_ID", True, id="aws-key-id"),
        pytest.param("AZURE_STORAGE_CONNECTION_STRING", True, id="azure"),
        pytest.param("GITHUB_TOKEN", True, id="token"),
        pytest.param("db_password", True, id="lower-case"),
        pytest.param("GOOGLE_APPLICATION_CREDENTIALS", True, id="credentials"),
        pytest.param("MLDOCK_STAGE", False, id="stage"),
        pytest.param("PATH", False, id="path"),
    ],
)
def test_is_secret_name(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_redact_environ_masks_only_secret_values() -> None:
    assert redact_environ({"API_TOKEN": "abc", "STAGE": "dev"}) == {"API_TOKEN": MASK, "STAGE": "dev"}


def test_redact_text_masks_secret_values_longest_first() -> None:
    environ = {"A_TOKEN": "secret", "B_TOKEN": "secret-longer", "SHORT_KEY": "ab", "PLAIN": "visible"}
    text = "x secret-longer y secret z ab visible"
    assert redact_text(text, environ) == f"x {MASK} y {MASK} z ab visible"


def test_secret_named_hyperparameters_are_masked_inside_the_json_variable() -> None:
    environ = {"MLDOCK_HYPERPARAMETERS": '{"api_token": "tok-12345", "lr": 0.1, "nested": {"password": "hunter22"}}'}
    masked = redact_environ(environ)
    assert "tok-12345" not in masked["MLDOCK_HYPERPARAMETERS"]
    assert "hunter22" not in masked["MLDOCK_HYPERPARAMETERS"]
    assert '"lr": 0.1' in masked["MLDOCK_HYPERPARAMETERS"]
    text = "step got api_token=tok-12345 and {'password': 'hunter22'}"
    assert redact_text(text, environ) == f"step got api_token={MASK} and {{'password': '{MASK}'}}"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param("s3://user:pa55word@bucket/x", "pa55word", id="uri-userinfo"),
        pytest.param("postgres://u:pw-secret@db.example/x", "pw-secret", id="postgres"),
        pytest.param("https://acct.blob.core.windows.net/c?sv=2020&sig=AbC%2Fdef123&se=1", "AbC%2Fdef123", id="sas"),
        pytest.param("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFy==;", "Zm9vYmFy==", id="key"),
        pytest.param("GET /o?X-Amz-Signature=deadbeef1234&X-Amz-Date=1", "deadbeef1234", id="presigned"),
    ],
)
def test_credentials_inside_any_text_are_masked_without_a_list(text: str, secret: str) -> None:
    assert secret not in redact_text(text)
    assert MASK in redact_text(text)


def test_a_uri_credential_in_one_variable_is_masked_where_it_reappears() -> None:
    environ = {"MLDOCK_INPUT_CHANNEL_X": "s3://user:pa55word@bucket/x"}
    assert redact_text("connecting with pa55word now", environ) == f"connecting with {MASK} now"
    assert redact_environ(environ)["MLDOCK_INPUT_CHANNEL_X"] == f"s3://user:{MASK}@bucket/x"


def test_escaped_and_multiline_forms_of_a_secret_are_masked() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    environ = {"SERVICE_ACCOUNT_KEY": key, "DB_PASSWORD": 'p"q\\r\tq'}
    for printed in (repr(key), json.dumps(key), json.dumps({"k": key}), key.splitlines()[1], repr('p"q\\r\tq')):
        assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in redact_text(printed, environ)
        assert "q\\r" not in redact_text(printed, environ).replace(MASK, "")


def test_redact_mapping_masks_nested_secret_keys_and_keeps_the_rest() -> None:
    given = {"api_key": 1234, "layers": [{"token": "x" * 8}, 3], "uri": "gs://u:pw12@b/p", "lr": 0.5}
    assert redact_mapping(given) == {
        "api_key": MASK,
        "layers": [{"token": MASK}, 3],
        "uri": f"gs://u:{MASK}@b/p",
        "lr": 0.5,
    }


def test_deeply_nested_json_neither_crashes_nor_leaks() -> None:
    deep = '{"a": ' * 5000 + '"x"' + "}" * 5000
    assert redact_environ({"MLDOCK_HYPERPARAMETERS": deep})["MLDOCK_HYPERPARAMETERS"] == deep
    assert secret_values({"MLDOCK_HYPERPARAMETERS": deep}) == set()


_SURROUNDINGS = st.sampled_from(["", " ", "token=", "error: ", "\n", "{'k': ", "}"])


@given(
    secret=st.text(min_size=4, max_size=40).filter(lambda s: "*" not in s and s.strip() == s),
    before=_SURROUNDINGS,
    after=_SURROUNDINGS,
)
def test_a_secret_never_survives_in_the_forms_it_is_printed_in(secret: str, before: str, after: str) -> None:
    environ = {"SOME_API_TOKEN": secret}
    for form in (secret, repr(secret), json.dumps(secret), json.dumps({"token": secret})):
        assert secret not in redact_text(before + form + after, environ)


def test_masking_a_long_run_of_letters_takes_linear_time() -> None:
    # a scheme-like run scanned from every position was quadratic: 2 MB of letters took hours
    text = "".join(chr(ord("a") + i % 26) for i in range(2_000_000)) + " s3://user:hunter22@bucket/x"
    masked = redact_text(text, [])
    assert masked.endswith("s3://user:***@bucket/x")
