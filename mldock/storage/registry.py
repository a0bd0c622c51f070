"""Choose the remote for a URI by its scheme. SDK modules are imported only when their scheme is used."""

from __future__ import annotations

import importlib
from typing import cast

from mldock.storage.base import Remote, parse_uri

__all__ = ["remote_for"]

_REMOTES: dict[str, str] = {
    "file": "mldock.storage.local:LocalRemote",
    "s3": "mldock.storage.s3:S3Remote",
    "gs": "mldock.storage.gcs:GCSRemote",
    "az": "mldock.storage.azure:AzureRemote",
}


def remote_for(uri: str) -> Remote:
    """A ready remote for `uri`'s scheme (ChannelError for an unsupported one)."""
    scheme = parse_uri(uri).scheme
    module_name, class_name = _REMOTES[scheme].split(":")
    remote_class = getattr(importlib.import_module(module_name), class_name)
    return cast(Remote, remote_class())
