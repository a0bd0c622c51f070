"""Secret-named variables are masked in mappings and in free text."""

from __future__ import annotations

import pytest

from mldock.runtime.redact import MASK, is_secret_name, redact_environ, redact_text


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
