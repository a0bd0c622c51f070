"""The parts of mldock.storage.spread that need no worker process: the setting, the decision, the shared queue,
the threads that pull from it, the worker's error reports, and the CPU readings (mldock.storage.cpu) the
decision rests on. Worker processes against the real emulators:
tests/integration/storage/test_storage_spread_workers.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mldock.contract import TRANSFER_PROCESSES
from mldock.errors import RemoteNotFoundError, StorageError, UserError
from mldock.storage.base import ContentMismatch
from mldock.storage.cpu import CpuGauge, usable_cores
from mldock.storage.spread import (
    AUTO_PROCESSES,
    MAX_PROCESSES,
    JobQueue,
    SpreadPlan,
    error_from,
    error_message,
    plan_from,
    run_pulling,
)
from mldock.storage.worker import decode_job


@pytest.mark.parametrize(
    ("value", "cores", "processes"),
    [
        (None, 2.0, 2),
        ("", 2.0, 2),
        (" auto ", 8.0, AUTO_PROCESSES),
        ("AUTO", 1.5, 1),
        ("auto", 0.5, 1),
        ("1", 8.0, 1),
        (" 3 ", 1.0, 3),
        ("64", 2.0, 64),
    ],
    ids=["unset", "empty", "auto-many-cores", "auto-quota", "auto-half-core", "one", "three", "most"],
)
def test_plan_from_the_setting(value: str | None, cores: float, processes: int) -> None:
    environ = {} if value is None else {TRANSFER_PROCESSES: value}
    assert plan_from(environ, cores=cores).processes == processes


@pytest.mark.parametrize("value", ["0", "65", "-1", "1.5", "two", "٣", "2 processes"], ids=str)
def test_a_bad_setting_is_a_user_error_naming_it(value: str) -> None:
    with pytest.raises(UserError, match=TRANSFER_PROCESSES) as caught:
        plan_from({TRANSFER_PROCESSES: value}, cores=2.0)
    assert "1 keeps transfers in one process" in str(caught.value)


@given(st.text(max_size=12))
def test_plan_from_is_total(value: str) -> None:
    try:
        processes, message = plan_from({TRANSFER_PROCESSES: value}, cores=2.0).processes, ""
    except UserError as exc:
        processes, message = 0, str(exc)
    assert 1 <= processes <= MAX_PROCESSES or TRANSFER_PROCESSES in message


def test_a_worker_starts_only_when_every_condition_holds() -> None:
    plan = SpreadPlan(processes=3, busy=0.85, spare=0.5, min_remaining=100)
    go = {"busy": 0.95, "spare": 0.8, "remaining": 500, "workers": 0}
    assert plan.should_start(**go)  # type: ignore[arg-type]
    assert plan.should_start(**{**go, "workers": 1})  # type: ignore[arg-type]
    assert not plan.should_start(**{**go, "workers": 2})  # type: ignore[arg-type]  # 3 processes already
    assert not plan.should_start(**{**go, "busy": 0.6})  # type: ignore[arg-type]  # the server is the limit
    assert not plan.should_start(**{**go, "spare": 0.2})  # type: ignore[arg-type]  # no core to spare
    assert not plan.should_start(**{**go, "remaining": 99})  # type: ignore[arg-type]  # not worth a process
    assert not SpreadPlan(processes=1, busy=0, spare=0, min_remaining=0).should_start(**go)  # type: ignore[arg-type]


def test_the_queue_hands_out_each_job_once_until_closed() -> None:
    queue = JobQueue(range(10))
    assert queue.take(3) == [0, 1, 2]
    assert queue.take() == [3]
    assert len(queue) == 6
    queue.close()
    assert queue.take(5) == []


def test_run_pulling_runs_every_job_on_the_threads() -> None:
    names: set[str] = set()
    lock = threading.Lock()

    def work(job: int) -> int:
        with lock:
            names.add(threading.current_thread().name)
        time.sleep(0.001)
        return job * 2

    assert sorted(run_pulling(work, JobQueue(range(200)), 4)) == [job * 2 for job in range(200)]
    assert names == {"mldock-transfer"}


def test_the_first_failure_stops_handing_out_jobs_and_is_raised() -> None:
    started: list[int] = []

    def work(job: int) -> int:
        started.append(job)
        if job == 5:
            raise ContentMismatch("s3://b/k: 5 bytes but 4 arrived")
        return job

    with pytest.raises(ContentMismatch, match="5 bytes but 4 arrived"):
        run_pulling(work, JobQueue(range(1000)), 1)
    assert started == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ContentMismatch("gs://b/k: 4 bytes but 3 arrived"), ContentMismatch),
        (RemoteNotFoundError("gs://b/k: gone"), RemoteNotFoundError),
        (StorageError("gs://b/k: refused"), StorageError),
    ],
    ids=["mismatch", "not-found", "storage"],
)
def test_a_workers_storage_error_comes_back_as_itself(error: StorageError, expected: type[StorageError]) -> None:
    back = error_from(error_message(error), "gs://b/data")
    assert type(back) is expected
    assert str(back) == str(error)


def test_any_other_worker_error_is_a_storage_error_naming_the_transfer() -> None:
    back = error_from(error_message(UserError("MLDOCK_STORAGE_TIMEOUT: 'x' is not a number")), "az://c/data")
    assert type(back) is StorageError
    assert str(back) == (
        "az://c/data: a transfer worker process failed: UserError: MLDOCK_STORAGE_TIMEOUT: 'x' is not a number"
    )


def test_a_job_round_trips_and_garbage_is_refused() -> None:
    ident, item, target = decode_job([7, ["data/a/b.bin", "a/b.bin", 4096, "ab" * 16, "/dest/a/b.bin"]])
    assert (ident, item.key, item.rel, item.size, item.md5, target) == (
        7,
        "data/a/b.bin",
        "a/b.bin",
        4096,
        "ab" * 16,
        Path("/dest/a/b.bin"),
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_decode_job_is_total(entry: object) -> None:
    try:
        ident, item, target = decode_job(entry)
    except (ValueError, TypeError):
        return
    assert isinstance(ident, int)
    assert item.size >= 0
    assert isinstance(target, Path)


def test_usable_cores_follow_the_cgroup_quota(tmp_path: Path) -> None:
    affinity = usable_cores(tmp_path / "none")
    assert affinity >= 1
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("max 100000\n")
    assert usable_cores(v2) == affinity
    (v2 / "cpu.max").write_text("50000 100000\n")
    assert usable_cores(v2) == min(affinity, 0.5)
    v1 = tmp_path / "v1" / "cpu,cpuacct"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(v1.parent) == affinity
    (v1 / "cpu.cfs_quota_us").write_text("25000\n")
    assert usable_cores(v1.parent) == min(affinity, 0.25)
    (v1 / "cpu.cfs_period_us").write_text("garbled\n")
    assert usable_cores(v1.parent) == affinity


def test_the_gauge_reads_own_cpu_and_the_machines_idle_cores(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 1 1 1 1 1\ncpu1 1 1 1 1 1\nintr 1\n")
    gauge = CpuGauge(cores=2.0, stat=stat)
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:  # keep this process busy
        pass
    stat.write_text("cpu  200 0 100 1050 50 0 0 0 0 0\ncpu0 1 1 1 1 1\ncpu1 1 1 1 1 1\nintr 1\n")
    busy, spare = gauge.sample()
    assert busy > 0.3
    assert spare == pytest.approx(min(2.0 - busy, 0.5 * 2))  # 100 of 200 jiffies idle or waiting, 2 CPUs


def test_without_proc_stat_the_spare_cores_are_what_the_process_leaves(tmp_path: Path) -> None:
    gauge = CpuGauge(cores=4.0, stat=tmp_path / "missing")
    time.sleep(0.05)
    busy, spare = gauge.sample()
    assert busy < 0.5
    assert spare == pytest.approx(4.0 - busy)
