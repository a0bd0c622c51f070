"""How much CPU this process may use and is using: what decides whether a transfer adds worker processes.

    usable_cores()                  # 2.0 on a 2-core machine; 1.5 in a container limited to --cpus 1.5
    gauge = CpuGauge()
    busy, spare = gauge.sample()    # since the previous sample: cores this process kept busy, cores idle

`usable_cores` is the smaller of the CPUs the process may run on (its affinity) and its cgroup's CPU quota
(cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), so a container limited to part of a
large host is not taken for the whole host. `CpuGauge.sample` reads the process's own CPU time and, where
/proc/stat exists, the machine's idle time: the spare cores are the machine's idle ones, never more than the
usable cores this process leaves free. Readings that cannot be made count as nothing spare.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["CpuGauge", "usable_cores"]

_CGROUP = Path("/sys/fs/cgroup")
_PROC_STAT = Path("/proc/stat")


def usable_cores(cgroup: Path = _CGROUP) -> float:
    """The cores this process may use: its CPU affinity, capped by its cgroup's CPU quota when one is set."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = float(os.cpu_count() or 1)
    quota = _cgroup_quota(cgroup)
    return min(cores, quota) if quota is not None else cores


def _cgroup_quota(cgroup: Path) -> float | None:
    """Cores the cgroup's CPU quota allows, or None when unlimited or unreadable."""
    try:
        fields = (cgroup / "cpu.max").read_text().split()  # v2: "max 100000" or "150000 100000"
        if len(fields) == 2 and fields[0] != "max":
            return _ratio(fields[0], fields[1])
        return None
    except OSError:
        pass
    for folder in (cgroup / "cpu", cgroup / "cpu,cpuacct"):  # v1
        try:
            quota = (folder / "cpu.cfs_quota_us").read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            continue
        return _ratio(quota, period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        share = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return share if share > 0 else None  # v1 writes -1 for no quota


def _machine_idle(stat: Path) -> tuple[float, float, int] | None:
    """(idle jiffies, all jiffies, number of CPUs) from /proc/stat, or None where it cannot be read."""
    try:
        lines = stat.read_text().splitlines()
        values = [int(value) for value in lines[0].split()[1:]]
    except (OSError, IndexError, ValueError):
        return None
    if len(values) < 5:
        return None
    cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
    return float(values[3] + values[4]), float(sum(values[:8])), max(1, cpus)  # idle + iowait; no guest time


class CpuGauge:
    """Samples this process's CPU use and the machine's spare cores over the time since the previous sample.

    gauge = CpuGauge()
    ...                              # work
    busy, spare = gauge.sample()     # e.g. (0.97, 0.6): one core kept busy, 0.6 of a core idle
    """

    def __init__(self, *, cores: float | None = None, stat: Path = _PROC_STAT) -> None:
        self._cores = usable_cores() if cores is None else cores
        self._stat = stat
        self._last = self._read()

    def _read(self) -> tuple[float, float, tuple[float, float, int] | None]:
        return time.monotonic(), time.process_time(), _machine_idle(self._stat)

    def sample(self) -> tuple[float, float]:
        """(cores this process kept busy, cores idle and usable) since the previous sample (or construction)."""
        wall, own, machine = self._read()
        last_wall, last_own, last_machine = self._last
        self._last = wall, own, machine
        elapsed = wall - last_wall
        if elapsed <= 0:
            return 0.0, 0.0
        busy = max(0.0, own - last_own) / elapsed
        free = max(0.0, self._cores - busy)
        if machine is None or last_machine is None:
            return busy, free
        jiffies = machine[1] - last_machine[1]
        if jiffies <= 0:
            return busy, 0.0
        idle = (machine[0] - last_machine[0]) / jiffies * machine[2]
        return busy, max(0.0, min(free, idle))
