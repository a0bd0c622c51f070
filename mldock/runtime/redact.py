"""Keep secrets out of logs, failure files and reports.

    is_secret_name("AWS_SECRET_ACCESS_KEY")          # True
    redact_environ({"TOKEN": "abc", "A": "1"})       # {"TOKEN": "***", "A": "1"}
    redact_text("failed with abc123", environ)       # secret values found in the text become ***

A variable is secret when its upper-cased name contains one of SECRET_MARKERS.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MASK", "SECRET_MARKERS", "is_secret_name", "redact_environ", "redact_text"]

MASK = "***"
SECRET_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CONNECTION_STRING", "CREDENTIAL")

# Shorter values are too likely to occur by chance in ordinary text to be replaced.
_MIN_SECRET_LENGTH = 4


def is_secret_name(name: str) -> bool:
    """True when a variable called `name` may hold a secret (keys, tokens, passwords, connection strings)."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def redact_environ(mapping: Mapping[str, str]) -> dict[str, str]:
    """A copy of `mapping` with the value of every secret-named variable replaced by MASK."""
    return {name: (MASK if is_secret_name(name) else value) for name, value in mapping.items()}


def redact_text(text: str, environ: Mapping[str, str]) -> str:
    """`text` with every value of a secret-named variable of `environ` replaced by MASK.

    Longest values first, so a secret that contains another is masked whole.
    """
    secrets = sorted(
        {value for name, value in environ.items() if is_secret_name(name) and len(value) >= _MIN_SECRET_LENGTH},
        key=len,
        reverse=True,
    )
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
