"""Submitted jobs, remembered in the project's folder so `mldock status JOB` knows the platform and where.

    save_record(Path(".mldock/jobs"), {"platform": "sagemaker", "job": "wine-prod-1", "settings": {...}})
    load_record(Path(".mldock/jobs"), "wine-prod-1")     # the record, or None

A record holds the platform, the job's id, the request's non-secret settings (region, project, namespace,
workspace: the stage's `platforms` settings, which hold no credentials) and what the engine answered.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["JOBS_DIR", "load_record", "save_record"]

JOBS_DIR = Path(".mldock", "jobs")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _file(folder: Path, job: str) -> Path:
    safe = _SAFE.sub("_", job)[-80:]
    if safe != job:  # an id with slashes (Vertex AI's resource name, namespace/name): keep names distinct
        safe = f"{safe}-{hashlib.sha256(job.encode()).hexdigest()[:8]}"
    return folder / f"{safe}.json"


def save_record(folder: Path, record: Mapping[str, Any]) -> Path:
    """Write `record` (it has a "job") as JSON below `folder`; its path."""
    path = _file(folder, str(record["job"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(record), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_record(folder: Path, job: str) -> dict[str, Any] | None:
    """The record of `job` (by the id `mldock submit` printed, or a SageMaker/Azure/Kubernetes name), or None."""
    path = _file(folder, job)
    if path.is_file():
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    for candidate in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        data = json.loads(candidate.read_text(encoding="utf-8"))
        if job in (data.get("job"), data.get("name")):
            found: dict[str, Any] = data
            return found
    return None
