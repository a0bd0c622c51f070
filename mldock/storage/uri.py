"""Storage URIs, parsed once: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`, `file:///abs/path`.

    uri = parse_uri("s3://data/train")
    uri.bucket, uri.prefix            # ("data", "train")
    str(uri.join("a.csv"))            # "s3://data/train/a.csv"
    str(uri.bucket_root())            # "s3://data"

Rules: the scheme is one of SUPPORTED_SCHEMES (any case, kept lower-case); cloud URIs name a bucket, the prefix
may be empty; `file:` URIs name an absolute folder (bucket "", prefix the path, no trailing slash; `localhost`
is the only host allowed); no query, fragment or surrounding whitespace. `str(parse_uri(s))` parses back to an
equal value. A bad URI raises InvalidURIError naming the URI: whoever read it from a variable adds the
variable's name.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mldock.errors import InvalidURIError

__all__ = ["SUPPORTED_SCHEMES", "RemoteURI", "parse_uri"]

SUPPORTED_SCHEMES = ("s3", "gs", "az", "file")


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
            return f"file://{self.prefix}"
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


def parse_uri(value: str) -> RemoteURI:
    """Parse `value` as a storage URI.

    Raises InvalidURIError (naming `value`) for an unsupported scheme, a missing bucket, a `file:` URI that is
    not an absolute folder, a query or fragment, or surrounding whitespace.
    """
    if not value or value != value.strip():
        raise InvalidURIError(f"the URI {value!r} is empty or has surrounding whitespace")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise InvalidURIError(f"{value!r} is not a valid URI ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise InvalidURIError(
            f"unsupported URI scheme ({shown}) in {value!r}; use one of "
            + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        )
    if parts.query or parts.fragment:
        raise InvalidURIError(f"{value!r} must not carry a query or fragment")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidURIError(f"{value!r} must be file:///absolute/path (no host)")
        path = unquote(parts.path)
        if not path.startswith("/") or path == "/":
            raise InvalidURIError(f"{value!r} must name an absolute folder, like file:///data/train")
        return RemoteURI("file", "", path.rstrip("/") or "/")
    bucket = parts.netloc
    if not bucket:
        raise InvalidURIError(f"{value!r} has no bucket; write {scheme}://BUCKET/optional/prefix")
    return RemoteURI(scheme, bucket, parts.path.lstrip("/"))
