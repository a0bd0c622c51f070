"""Bucket names unique per test and per xdist worker, valid on S3, GCS and Azure Blob alike.

    bucket_name("tests/test_train.py::test_fits", worker="gw1", n=2)   # "t-gw1-3f1c0a9b2e-2"

The common ground of the three clouds' rules: 3 to 63 characters, lower-case letters, digits and hyphens,
starting and ending with a letter or digit, no two hyphens in a row (Azure), not shaped like an IP address (S3).
"""

from __future__ import annotations

import hashlib
import os
import re

__all__ = ["BUCKET_NAME", "bucket_name", "worker_id"]

BUCKET_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
"""Names every one of S3, GCS and Azure Blob accepts."""

_WORKER = re.compile(r"[^a-z0-9]+")


def worker_id() -> str:
    """The pytest-xdist worker id (`gw0`, ...) or `main` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def bucket_name(nodeid: str, *, worker: str, n: int) -> str:
    """The `n`-th bucket of test `nodeid` on `worker`: `t-<worker>-<hash of nodeid>-<n>`."""
    safe_worker = _WORKER.sub("", worker.lower())[:12] or "w"
    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    name = f"t-{safe_worker}-{digest}-{n}"
    if not BUCKET_NAME.match(name):  # pragma: no cover - the parts above cannot produce an invalid name
        raise ValueError(f"internal error: {name!r} is not a valid bucket name")
    return name
