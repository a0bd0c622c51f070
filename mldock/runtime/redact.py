"""Keep secrets out of logs, failure files and reports: masking by value, not only by variable name.

    is_secret_name("AWS_SECRET_ACCESS_KEY")          # True
    redact_environ({"TOKEN": "abc", "A": "1"})       # {"TOKEN": "***", "A": "1"}
    redact_text("failed with abc123", environ)       # every secret of `environ` found in the text becomes ***
    redact_mapping({"api_token": "t0k3n", "lr": 0.1})  # {"api_token": "***", "lr": 0.1}

What counts as a secret:
- the value of a variable (or a hyperparameter, or any key of a mapping) whose upper-cased name contains one of
  SECRET_MARKERS (KEY, SECRET, TOKEN, PASSWORD, ...), however deep in a JSON value it stands
  (`MLDOCK_HYPERPARAMETERS='{"api_token": ...}'`);
- credentials written inside any value or text: the password of a URI's userinfo (`scheme://user:pw@host`),
  signature and token query parameters (`sig=`, `X-Amz-Signature=`, `token=`, ...), `AccountKey=` and
  `SharedAccessSignature=` parts of a connection string.

Each secret value is also masked in the forms it takes when a program prints it: JSON-escaped, `repr`-escaped,
URL-encoded, and — for a multi-line value such as a service-account JSON file — line by line. Values shorter
than MIN_SECRET_LENGTH are not searched for in free text (they occur by chance), but are still masked in
mappings. Pure functions of their arguments: nothing is read from the process environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SECRET_MARKERS",
    "Redactor",
    "is_secret_name",
    "redact_credentials",
    "redact_environ",
    "redact_mapping",
    "redact_text",
    "secret_values",
]

MASK = "***"
SECRET_MARKERS = (
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CONNECTION_STRING",
    "CREDENTIAL",
    "SIGNATURE",
    "PRIVATE",
    "AUTH",
    "COOKIE",
)
MIN_SECRET_LENGTH = 4
"""Shorter values are too likely to occur by chance in ordinary text to be replaced there."""

_MIN_LINE_LENGTH = 8  # the lines of a multi-line secret masked one by one: long enough not to be chance

# `scheme://user:password@host`: the password (and a lone userinfo token, `scheme://token@host`, when the
# scheme is not one whose userinfo is only a user name). The scheme's length is bounded: unbounded, a long run of
# letters (a large hyperparameter printed by a step) took time quadratic in its length (seconds per 20 KB).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/\s:@'\"]*:)(?P<secret>[^@/\s'\"]+)(?=@)")
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:sig|signature|token|access_token|code|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token"
    r"|X-Goog-Signature|X-Goog-Credential|sv_sig)=)(?P<secret>[^&;\s'\"]+)",
    re.IGNORECASE,
)
_CONNECTION_SECRET = re.compile(
    r"(?P<head>\b(?:AccountKey|SharedAccessSignature|SharedAccessKey|Password|Pwd)=)(?P<secret>[^;\s'\"]+)",
    re.IGNORECASE,
)
_CREDENTIAL_PATTERNS = (_USERINFO, _QUERY_SECRET, _CONNECTION_SECRET)


def is_secret_name(name: str) -> bool:
    """True when a variable (or key) called `name` may hold a secret (keys, tokens, passwords, ...)."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def redact_credentials(text: str) -> str:
    """`text` with credentials written inside it (URI passwords, signature/token parameters, account keys)
    replaced by MASK; needs no list of secrets."""
    for pattern in _CREDENTIAL_PATTERNS:
        text = pattern.sub(lambda match: match.group("head") + MASK, text)
    return text


def redact_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `mapping` (hyperparameters, settings, JSON objects, nested) with the value of every
    secret-named key replaced by MASK and credentials inside the other strings masked."""
    return {key: (MASK if is_secret_name(str(key)) else _redact_value(value)) for key, value in mapping.items()}


def redact_environ(mapping: Mapping[str, str]) -> dict[str, str]:
    """A copy of `mapping` with the value of every secret-named variable replaced by MASK, secret-named keys
    masked inside JSON object values (such as MLDOCK_HYPERPARAMETERS) and credentials inside values masked."""
    return {name: (MASK if is_secret_name(name) else _redact_variable(value)) for name, value in mapping.items()}


def redact_text(text: str, environ: Mapping[str, str] | Iterable[str] = ()) -> str:
    """`text` with every secret of `environ` (see `secret_values`; or an iterable of secret values) replaced by
    MASK in any of the forms it is printed in, and credentials written inside the text masked.

    Longest first, so a secret that contains another is masked whole.
    """
    secrets = secret_values(environ) if isinstance(environ, Mapping) else set(environ)
    return Redactor(secrets)(text)


class Redactor:
    """`redact_text` with the secrets' printed forms worked out once, for text that streams by line by line.

    mask = Redactor.for_environ(child_env)
    for line in stream: out.write(mask(line))
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._forms = sorted(_forms(secrets), key=len, reverse=True)

    @classmethod
    def for_environ(cls, environ: Mapping[str, str]) -> Redactor:
        """The redactor of every secret `environ` holds (see `secret_values`)."""
        return cls(secret_values(environ))

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return redact_credentials(text)


def secret_values(environ: Mapping[str, str]) -> set[str]:
    """Every secret that `environ` holds: values of secret-named variables, values of secret-named keys inside
    JSON object values, and credentials written inside any value."""
    found: set[str] = set()
    for name, value in environ.items():
        if is_secret_name(name):
            found.add(value)
            continue
        found.update(_embedded_credentials(value))
        parsed = _json_object(value)
        if parsed is not None:
            found.update(_secrets_in(parsed))
    return {value for value in found if len(value) >= MIN_SECRET_LENGTH}


# -- internals ------------------------------------------------------------------------------------------------


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_credentials(value)
    return value


def _redact_variable(value: str) -> str:
    parsed = _json_object(value)
    if parsed is not None and _secrets_in(parsed):
        return json.dumps(redact_mapping(parsed), sort_keys=True)
    return redact_credentials(value)


def _json_object(value: str) -> dict[str, Any] | None:
    text = value.strip()
    if not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _secrets_in(value: Any, *, secret: bool = False) -> set[str]:
    """The secret strings inside a JSON value: everything below a secret-named key, credentials elsewhere."""
    found: set[str] = set()
    stack: list[tuple[Any, bool]] = [(value, secret)]
    while stack:  # iterative: a hostile value may nest deeper than the recursion limit
        current, below_secret = stack.pop()
        if isinstance(current, Mapping):
            stack.extend((item, below_secret or is_secret_name(str(key))) for key, item in current.items())
        elif isinstance(current, list):
            stack.extend((item, below_secret) for item in current)
        elif isinstance(current, str):
            found.update([current] if below_secret else _embedded_credentials(current))
        elif below_secret and current is not None and not isinstance(current, bool):
            found.add(str(current))
    return found


def _embedded_credentials(value: str) -> Iterator[str]:
    for pattern in _CREDENTIAL_PATTERNS:
        for match in pattern.finditer(value):
            yield match.group("secret")


def _forms(secrets: Iterable[str]) -> set[str]:
    """Each secret as it may appear when printed: as is, JSON- and repr-escaped, URL-encoded, line by line."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        forms.update(
            {
                secret,
                json.dumps(secret)[1:-1],
                repr(secret)[1:-1],
                quote(secret, safe=""),
                secret.encode("unicode_escape").decode("ascii", "replace"),
            }
        )
        lines = [line.strip() for line in secret.splitlines()]
        forms.update(line for line in lines if len(line) >= _MIN_LINE_LENGTH and len(lines) > 1)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}
