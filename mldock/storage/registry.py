"""Choose the remote for a URI by its scheme, built from explicit settings.

    remote = remote_for(uri)                          # the SDK's standard variables from os.environ
    remote = remote_for(uri, s3_emulator.env())       # ... or from this mapping only: two emulators, one process

`environ` is the mapping each remote reads the SDK's standard variables from (endpoints, credentials, region or
project, proxies, CA bundle: see each remote's module); None means os.environ, read when the SDK client is made.
Nothing is ever written to os.environ. SDK modules are imported only when their scheme is used; a scheme whose
SDK is not installed is a ChannelError (a user error, exit 2) naming the URI and the package to add, never
"No module named 'google'".
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import cast

from mldock.errors import ChannelError
from mldock.storage.base import Remote
from mldock.storage.uri import RemoteURI, parse_uri

__all__ = ["check_sdk", "remote_for"]

_REMOTES: dict[str, str] = {
    "file": "mldock.storage.local:LocalRemote",
    "s3": "mldock.storage.s3:S3Remote",
    "gs": "mldock.storage.gcs:GCSRemote",
    "az": "mldock.storage.azure:AzureRemote",
}


_SDKS: dict[str, tuple[str, str, str]] = {
    "s3": ("boto3", "boto3", "s3"),
    "gs": ("google.cloud.storage", "google-cloud-storage", "gcs"),
    "az": ("azure.storage.blob", "azure-storage-blob", "azure"),
}
"""For each scheme: the SDK module, its package and mldock's extra that installs it."""

_PLATFORM_HINT = {"gs": ", or keep 'vertex' in mldock.json platforms (the build then adds it)"}


def check_sdk(uri: RemoteURI) -> None:
    """ChannelError naming `uri` and the package to add when its scheme's SDK is not installed."""
    if uri.scheme not in _SDKS:
        return
    module, package, extra = _SDKS[uri.scheme]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, AttributeError, ValueError):  # a parent package (google, azure) is missing or broken
        found = False
    if not found:
        raise ChannelError(
            f"{uri}: {uri.scheme}:// channels need {package} in the image (no module {module}): add it to the "
            f"project's requirements.txt{_PLATFORM_HINT.get(uri.scheme, '')}; on a host, pip install 'mldock[{extra}]'"
        )


def remote_for(uri: RemoteURI | str, environ: Mapping[str, str] | None = None) -> Remote:
    """A remote for `uri`'s scheme, reading its settings from `environ` (os.environ when None).

    A string is parsed first (InvalidURIError when it cannot be used); ChannelError when the scheme's SDK is not
    installed (check_sdk).
    """
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    scheme = parsed.scheme
    check_sdk(parsed)
    module_name, class_name = _REMOTES[scheme].split(":")
    # the remote's module imports its SDK; it is loaded only for its scheme
    remote_class = getattr(importlib.import_module(module_name), class_name)
    if scheme == "file":
        return cast(Remote, remote_class())
    return cast(Remote, remote_class(environ=environ))
