"""How many CPUs this process may really use: the container's CPU quota, not the node's cores.

``os.cpu_count()`` is the node's core count: a pod limited to 1 CPU on a 32-core node would start
32 worker processes, each with its own memory, and be killed for it. The quota lives in the
cgroup: v2 ``cpu.max`` ("max 100000" or "150000 100000"), v1 ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us`` (-1: none). The CPU affinity mask (taskset, cpusets) bounds it too.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_quota(root: Path | None = None) -> float | None:
    """The CPU quota in CPUs (e.g. 1.5), or None when there is none (or no cgroup to read)."""
    root = root or CGROUP_ROOT
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        parts = v2.split()
        if len(parts) == 2 and parts[0] != "max":
            try:
                quota, period = int(parts[0]), int(parts[1])
            except ValueError:
                return None
            return quota / period if quota > 0 and period > 0 else None
        return None
    for v1 in (root / "cpu", root / "cpu,cpuacct", root):
        quota_text, period_text = _read(v1 / "cpu.cfs_quota_us"), _read(v1 / "cpu.cfs_period_us")
        if quota_text is None or period_text is None:
            continue
        try:
            quota, period = int(quota_text), int(period_text)
        except ValueError:
            return None
        return quota / period if quota > 0 and period > 0 else None
    return None


def usable_cpus(root: Path | None = None) -> int:
    """Whole CPUs this process may use: the affinity mask, capped by the cgroup quota (rounded up)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
