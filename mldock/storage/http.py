"""Proxies and CA bundle for a remote's endpoint, read once from the remote's environment mapping.

    proxies = proxies_for("https://storage.googleapis.com", environ)   # {"https": "http://proxy:3128"}
    pin_environment(session, "https://storage.googleapis.com", environ)

requests looks up proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, each also lower-case, the lower-case
spelling winning) and the CA bundle (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE) in os.environ on every request,
walking the whole process environment twice each time: about a tenth of the client CPU of a small-object
download. A remote talks to one storage endpoint and takes its settings from one mapping (os.environ when none
is given), so the answer is the same for all of its requests: `pin_environment` works it out once for that
endpoint, from that mapping, and turns the per-request lookups off. (The SDKs put their own credentials on every
request, so ~/.netrc has no part here.) NO_PROXY is applied to the endpoint's host with the standard library's
own matching.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed

if TYPE_CHECKING:
    import requests

__all__ = ["ca_bundle", "pin_environment", "proxies_for"]

_PROXY_SCHEMES = ("http", "https", "all")


def ca_bundle(environ: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle requests would take from `environ` (os.environ when None), or None for its default."""
    env = os.environ if environ is None else environ
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None


def _setting(env: Mapping[str, str], name: str) -> str:
    return env.get(f"{name}_proxy") or env.get(f"{name.upper()}_PROXY") or ""


def proxies_for(endpoint: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxies `environ` (os.environ when None) names for `endpoint`, by URL scheme ("http", "https",
    "all"); {} when NO_PROXY covers the endpoint's host."""
    env = os.environ if environ is None else environ
    proxies = {scheme: value for scheme in _PROXY_SCHEMES if (value := _setting(env, scheme))}
    no_proxy = _setting(env, "no")
    host = urlsplit(endpoint).netloc.rpartition("@")[2]
    if proxies and no_proxy and host and proxy_bypass_environment(host, {"no": no_proxy}):
        return {}
    return proxies


def pin_environment(session: requests.Session, endpoint: str, environ: Mapping[str, str] | None = None) -> None:
    """Give `session` the proxies and CA bundle `environ` (os.environ when None) names for `endpoint`, and stop
    it from looking them up again on each request. Settings already made on the session win."""
    for scheme, proxy in proxies_for(endpoint, environ).items():
        session.proxies.setdefault(scheme, proxy)
    bundle = ca_bundle(environ)
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False
