"""Storage URIs, parsed once: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`, `file:///abs/path`.

    uri = parse_uri("s3://data/train")
    uri.bucket, uri.prefix            # ("data", "train")
    str(uri.join("a.csv"))            # "s3://data/train/a.csv"
    str(uri.bucket_root())            # "s3://data"

Rules: the scheme is one of SUPPORTED_SCHEMES (any case, kept lower-case); no query, fragment, credentials
(`user:password@`), control character or surrounding whitespace.
- Cloud URIs name a bucket that follows its cloud's naming rules (checked here, so a bad name is the user's
  error, not the SDK's): S3 (at most 63 lower-case letters, digits, `.`, `-`; no `..`; not an IP address; none
  of AWS's reserved prefixes and suffixes), GCS (at most 63 lower-case letters, digits, `.`, `_`, `-`, up to
  222 with dots and 63 between them; not an IP address; no `goog` prefix, no `google`), Azure containers (at
  most 63 lower-case letters, digits, `-`, no `--`; or `$root`, `$web`, `$logs`). Each is at least 3 characters
  long and starts and ends with a letter or digit. The prefix may be empty and is kept as written.
- `file:` URIs name an absolute folder: %-escapes are decoded (UTF-8), repeated slashes collapse, `.` and `..`
  segments and NUL are refused, the filesystem root is refused however it is spelled (`file:///`, `file:////`,
  `file:///%2F`, `file://localhost//`); `localhost` is the only host allowed. The value has bucket "" and the
  path as prefix, without a trailing slash.
`str(parse_uri(s))` parses back to an equal value (a `file:` path is %-escaped where it must be). A bad URI
raises InvalidURIError naming the URI (credentials, query and fragment masked): whoever read it from a variable
adds the variable's name.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from mldock.errors import InvalidURIError

__all__ = ["SUPPORTED_SCHEMES", "RemoteURI", "bucket_name_problem", "parse_uri"]

SUPPORTED_SCHEMES = ("s3", "gs", "az", "file")

_PATH_SAFE = "/:@!$&'()*+,;=~"  # RFC 3986 path characters quote() would escape; letters, digits, _.-~ never are
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_S3_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_GCS_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_AZURE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_AZURE_SPECIAL = frozenset({"$root", "$web", "$logs"})
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


@dataclass(frozen=True)
class RemoteURI:
    """A parsed storage URI: `scheme://bucket/prefix` (`file:///abs/path` has bucket "" and prefix the path).

    For example:

        RemoteURI("gs", "models", "run-1").join("model.pkl")   # gs://models/run-1/model.pkl
    """

    scheme: str
    bucket: str
    prefix: str

    def __str__(self) -> str:
        if self.scheme == "file":
            return f"file://{quote(self.prefix, safe=_PATH_SAFE)}"
        return f"{self.scheme}://{self.bucket}/{self.prefix}" if self.prefix else f"{self.scheme}://{self.bucket}"

    def bucket_root(self) -> RemoteURI:
        """The URI of the bucket this URI lives in, as the remotes' bucket methods take it: `scheme://bucket`
        for the clouds; for `file:` the parent folder of the path (the folder LocalRemote treats as the bucket:
        `file:///srv/b/train` -> `file:///srv/b`)."""
        if self.scheme == "file":
            return RemoteURI("file", "", posixpath.dirname(self.prefix.rstrip("/")) or "/")
        return RemoteURI(self.scheme, self.bucket, "")

    def join(self, key: str) -> RemoteURI:
        """The URI of `key` below this prefix."""
        base = self.prefix.rstrip("/")
        return RemoteURI(self.scheme, self.bucket, f"{base}/{key}" if base else key)


def bucket_name_problem(scheme: str, name: str) -> str:
    """What breaks `scheme`'s naming rules in the bucket (container) `name`, or "" when it follows them."""
    if scheme == "s3":
        if not _S3_NAME.match(name) or ".." in name:
            return (
                "S3 bucket names are 3-63 lower-case letters, digits, '.' or '-', start and end with a letter or digit"
            )
        if _IPV4.match(name):
            return "an S3 bucket name must not look like an IP address"
        if name.startswith(_S3_RESERVED_PREFIXES) or name.endswith(_S3_RESERVED_SUFFIXES):
            return "S3 reserves this prefix or suffix of bucket names"
        return ""
    if scheme == "gs":
        if not _GCS_NAME.match(name) or any(len(part) > 63 or not part for part in name.split(".")):
            return (
                "GCS bucket names are 3-63 lower-case letters, digits, '.', '_' or '-' (up to 222 with dots, "
                "63 between them), start and end with a letter or digit"
            )
        if _IPV4.match(name):
            return "a GCS bucket name must not look like an IP address"
        if name.startswith("goog") or "google" in name or "g00gle" in name:
            return "GCS bucket names must not start with 'goog' or contain 'google'"
        return ""
    if scheme == "az":
        if name in _AZURE_SPECIAL:
            return ""
        if not _AZURE_NAME.match(name) or "--" in name:
            return (
                "Azure container names are 3-63 lower-case letters, digits or '-', start and end with a letter "
                "or digit, with no '--'"
            )
        return ""
    return ""


def _shown(value: str) -> str:
    """`value` for an error message: credentials, query and fragment masked, at most 300 characters."""
    shown = _USERINFO.sub(r"\1***@", value)
    shown = re.sub(r"([?#]).*", r"\1***", shown, flags=re.DOTALL)
    return repr(shown if len(shown) <= 300 else shown[:297] + "...")


def parse_uri(value: str) -> RemoteURI:
    """Parse `value` as a storage URI; InvalidURIError (naming the URI, credentials masked) when it is not one
    (see the module's rules)."""
    shown = _shown(value)
    if not value or value != value.strip():
        raise InvalidURIError(f"the URI {shown} is empty or has surrounding whitespace")
    if _CONTROL.search(value):
        raise InvalidURIError(f"the URI {shown} holds a control character")
    try:
        value.encode("utf-8")
        parts = urlsplit(value)
    except (ValueError, UnicodeError) as exc:  # UnicodeEncodeError: a lone surrogate
        raise InvalidURIError(f"{shown} is not a valid URI ({type(exc).__name__})") from exc
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        scheme_shown = f"{scheme}://" if scheme else "no scheme"
        raise InvalidURIError(
            f"unsupported URI scheme ({scheme_shown}) in {shown}; use one of "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        )
    if "@" in parts.netloc:
        raise InvalidURIError(
            f"{shown} carries credentials (user:password@): give them through the cloud SDK's own settings"
        )
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise InvalidURIError(f"{shown} must not carry a query or fragment")
    if scheme == "file":
        return RemoteURI("file", "", _file_path(parts.netloc, parts.path, shown))
    bucket = parts.netloc
    if not bucket:
        raise InvalidURIError(f"{shown} has no bucket; write {scheme}://BUCKET/optional/prefix")
    problem = bucket_name_problem(scheme, bucket)
    if problem:
        raise InvalidURIError(f"{shown}: the bucket name {bucket!r} is not valid: {problem}")
    return RemoteURI(scheme, bucket, parts.path.lstrip("/"))


def _file_path(host: str, raw_path: str, shown: str) -> str:
    if host not in ("", "localhost"):
        raise InvalidURIError(f"{shown} must be file:///absolute/path (no host)")
    try:
        path = unquote(raw_path, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidURIError(f"{shown}: a %-escape is not UTF-8 text") from exc
    if "\x00" in path or _CONTROL.search(path):
        raise InvalidURIError(f"{shown}: the path holds a NUL or control character")
    segments = [segment for segment in path.split("/") if segment]
    if not path.startswith("/"):
        raise InvalidURIError(f"{shown} must name an absolute folder, like file:///data/train")
    if any(segment in (".", "..") for segment in segments):
        raise InvalidURIError(f"{shown}: '.' and '..' are not allowed in the path; write the folder itself")
    if not segments:
        raise InvalidURIError(f"{shown} names the filesystem root; name an absolute folder, like file:///data/train")
    return "/" + "/".join(segments)
