"""A download's worker processes start inside the built image as they do on the host: the interpreter that runs
the entrypoint starts `mldock.storage.worker` from the image's own mldock, and the two speak the protocol (here
the worker's report that it cannot make its remote comes back to the caller as a StorageError). The spread
itself is tested against the emulators on the host: tests/integration/storage/test_storage_spread_workers.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.integration, pytest.mark.engine]

CALLER = """
import json, time
from mldock.errors import StorageError
from mldock.storage.spread import SpreadPlan, WorkerJobs, spread

plan = SpreadPlan(processes=2, busy=0, spare=0, min_remaining=1, window=0.05)
setup = {"uri": "s3://bucket/data", "environ": {"MLDOCK_STORAGE_TIMEOUT": "soon"}, "threads": 2, "attempts": 1}
workers = WorkerJobs(setup, json.dumps, lambda count: None)
try:
    spread(lambda job: time.sleep(0.05) or 0, list(range(2000)), threads=1, plan=plan, workers=workers, where="s3://bucket/data")
except StorageError as exc:
    print("caller raised:", exc)
"""


def test_a_worker_process_starts_in_the_image_and_reports_back(engine: docker.DockerClient, harness_image: str) -> None:
    out = engine.containers.run(
        harness_image, ["-c", CALLER], entrypoint=["python"], remove=True, stdout=True, stderr=True
    ).decode()
    assert "caller raised: s3://bucket/data: a transfer worker process failed: " in out, out
    assert "MLDOCK_STORAGE_TIMEOUT" in out or "boto3" in out, out
    assert "Traceback" not in out, out
