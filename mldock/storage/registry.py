"""Choose the remote for a URI by its scheme, built from explicit settings.

    remote = remote_for(uri)                          # the SDK's standard variables from os.environ
    remote = remote_for(uri, s3_emulator.env())       # ... or from this mapping only: two emulators, one process

`environ` is the mapping each remote reads the SDK's standard variables from (endpoints, credentials, region or
project, proxies, CA bundle: see each remote's module); None means os.environ, read when the SDK client is made.
Nothing is ever written to os.environ. SDK modules are imported only when their scheme is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import cast

from mldock.storage.base import Remote
from mldock.storage.uri import RemoteURI, parse_uri

__all__ = ["remote_for"]

_REMOTES: dict[str, str] = {
    "file": "mldock.storage.local:LocalRemote",
    "s3": "mldock.storage.s3:S3Remote",
    "gs": "mldock.storage.gcs:GCSRemote",
    "az": "mldock.storage.azure:AzureRemote",
}


def remote_for(uri: RemoteURI | str, environ: Mapping[str, str] | None = None) -> Remote:
    """A remote for `uri`'s scheme, reading its settings from `environ` (os.environ when None).

    A string is parsed first (InvalidURIError when it cannot be used).
    """
    scheme = (parse_uri(uri) if isinstance(uri, str) else uri).scheme
    module_name, class_name = _REMOTES[scheme].split(":")
    # the remote's module imports its SDK; it is loaded only for its scheme
    remote_class = getattr(importlib.import_module(module_name), class_name)
    if scheme == "file":
        return cast(Remote, remote_class())
    return cast(Remote, remote_class(environ=environ))
