"""A remote's requests session, with the environment read once instead of on every request.

requests looks up proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY), the CA bundle (REQUESTS_CA_BUNDLE,
CURL_CA_BUNDLE) and ~/.netrc on every request, walking the whole process environment twice each time: about a
tenth of the client CPU of a small-object download. A remote talks to one storage endpoint, so the answer is
the same for all of its requests: `pin_environment` works it out once for that endpoint and turns the
per-request lookups off. (The SDKs put their own credentials on every request, so ~/.netrc has no part here.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

__all__ = ["ca_bundle", "pin_environment"]


def ca_bundle(environ: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle requests would take from the environment, or None for its default."""
    env = os.environ if environ is None else environ
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None


def pin_environment(session: requests.Session, endpoint: str) -> None:
    """Give `session` the proxies and CA bundle the environment names for `endpoint` (NO_PROXY honoured),
    and stop it from looking them up again on each request."""
    from requests.utils import get_environ_proxies

    for scheme, proxy in get_environ_proxies(endpoint).items():
        if scheme != "no":  # NO_PROXY, already applied to `endpoint`
            session.proxies.setdefault(scheme, proxy)
    bundle = ca_bundle()
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False
