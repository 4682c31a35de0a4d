"""The search service's document builders follow the container's CPU quota and
HUIKE_SEARCH_WORKERS, never the node's core count (a pod limited to 1 CPU on a 32-core node
would otherwise start 2 x 32 processes of ~175 MB and be killed for it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.search.building import worker_count
from shared import cpu
from shared.settings import SettingsError, load_settings

AFFINITY = len(os.sched_getaffinity(0))


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def cgroup_v1(root: Path, quota: int, period: int = 100_000) -> Path:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


@pytest.mark.parametrize(("cpu_max", "quota"), [("100000 100000", 1.0), ("150000 100000", 1.5),
                                                 ("50000 100000", 0.5), ("max 100000", None)])
def test_cgroup_v2_quota(tmp_path: Path, cpu_max: str, quota: float | None) -> None:
    assert cpu.cgroup_cpu_quota(cgroup_v2(tmp_path, cpu_max)) == quota


@pytest.mark.parametrize(("quota_us", "quota"), [(200_000, 2.0), (-1, None)])
def test_cgroup_v1_quota(tmp_path: Path, quota_us: int, quota: float | None) -> None:
    assert cpu.cgroup_cpu_quota(cgroup_v1(tmp_path, quota_us)) == quota


def test_no_cgroup_means_no_quota(tmp_path: Path) -> None:
    assert cpu.cgroup_cpu_quota(tmp_path) is None
    assert cpu.usable_cpus(tmp_path) == AFFINITY


def test_a_quota_below_the_cores_caps_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On a node with 32 cores, a pod limited to 1.5 CPU gets 2 workers, never 32.
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(32)))
    monkeypatch.setattr(cpu, "CGROUP_ROOT", cgroup_v2(tmp_path, "150000 100000"))
    assert worker_count(0) == 2
    assert cpu.usable_cpus() == 2


def test_half_a_cpu_still_gets_one_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "CGROUP_ROOT", cgroup_v2(tmp_path, "50000 100000"))
    assert worker_count(0) == 1


def test_the_setting_wins_over_the_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "CGROUP_ROOT", cgroup_v2(tmp_path, "100000 100000"))
    monkeypatch.setenv("HUIKE_SEARCH_WORKERS", "3")
    assert worker_count(load_settings().search_workers) == 3


def test_a_quota_above_the_affinity_is_capped_by_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr(cpu, "CGROUP_ROOT", cgroup_v1(tmp_path, 800_000))
    assert worker_count(0) == 2


@pytest.mark.parametrize("value", ["-1", "65", "two"])
def test_a_bad_worker_count_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HUIKE_SEARCH_WORKERS", value)
    with pytest.raises(SettingsError, match="HUIKE_SEARCH_WORKERS"):
        load_settings()
