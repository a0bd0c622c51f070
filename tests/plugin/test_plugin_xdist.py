"""`pytest -n 2`: each worker its own emulators (no port clash), buckets unique per test, nothing leaked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

RECORDING_CONFTEST = """
import json
import os
from pathlib import Path

import pytest


def _children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def record(request):
    entry = {"test": request.node.nodeid, "worker": os.environ.get("PYTEST_XDIST_WORKER")}
    yield entry
    entry["children"] = _children(os.getpid())
    out = Path(os.environ["RECORD_DIR"]) / (request.node.name + ".json")
    out.write_text(json.dumps(entry))
"""

PARALLEL_TESTS = """
import json
import pytest


@pytest.mark.parametrize("n", [1, 2, 3, 4], ids=["a", "b", "c", "d"])
def test_storage(n, record, mldock_storage, s3_emulator, gcs_emulator):
    uris = [mldock_storage.input("train", {"x.txt": str(n).encode()}, scheme="s3"),
            mldock_storage.output("metrics", scheme="gs")]
    assert mldock_storage.read(uris[0]) == {"x.txt": str(n).encode()}
    record["buckets"] = [u.split("/")[2] for u in uris]
    record["endpoints"] = [s3_emulator.endpoint_url, gcs_emulator.endpoint_url]


@pytest.mark.parametrize("rows", [2, 5], ids=["two", "five"])
def test_container(rows, record, mldock_storage, mldock_container, s3_emulator, gcs_emulator):
    mldock_storage.input("train", {"data.csv": b"r\\n" * rows})
    result = mldock_container("train")
    result.assert_succeeded()
    assert json.loads(result.outputs["metrics"]["metrics.json"])["rows"] == rows
    record["buckets"] = [uri.split("/")[2] for uri in mldock_storage.environment.values()]
    record["endpoints"] = [s3_emulator.endpoint_url, gcs_emulator.endpoint_url]
    record["base_dir"] = str(result.run.base_dir)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_two_workers(pytester: pytest.Pytester, sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records_dir = pytester.mkdir("records")
    monkeypatch.setenv("RECORD_DIR", str(records_dir))
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(test_parallel=PARALLEL_TESTS)

    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly")

    result.assert_outcomes(passed=6)
    records = [json.loads(p.read_text()) for p in sorted(records_dir.glob("*.json"))]
    assert len(records) == 6
    workers = {r["worker"] for r in records}
    assert workers == {"gw0", "gw1"}
    buckets = [b for r in records for b in r["buckets"]]
    assert len(buckets) == len(set(buckets)) == 4 * 2 + 2 * 3
    for record in records:
        assert all(b.startswith(f"t-{record['worker']}-") for b in record["buckets"])
    endpoints = {w: {tuple(r["endpoints"]) for r in records if r["worker"] == w} for w in workers}
    assert all(len(e) == 1 for e in endpoints.values()), "one set of emulators per worker for the session"
    assert endpoints["gw0"].isdisjoint(endpoints["gw1"]), "workers never share a port"
    emulator_pids = {pid for r in records for pid in r["children"]}
    assert len(emulator_pids) >= 4, "moto and fake-gcs-server in each worker"
    assert [pid for pid in emulator_pids if _alive(pid)] == []
    assert [r["base_dir"] for r in records if "base_dir" in r and os.path.exists(r["base_dir"])] == []
