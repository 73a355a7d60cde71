"""usable_cpus: the affinity mask, capped by the cgroup's CPU quota (a container's ``--cpus``, a
pod's CPU limit), which the mask alone does not show: inside a pod it lists every core of the
node, and one worker per core of a 32-core node would not fit a 2-CPU pod's memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.config import cgroup_cpu_quota, usable_cpus

MASK_CPUS = len(os.sched_getaffinity(0))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("content", "quota"), [
    ("200000 100000\n", 2.0), ("150000 100000\n", 1.5), ("max 100000\n", None),
])
def test_cgroup_v2_cpu_max(tmp_path: Path, content: str, quota: float | None) -> None:
    _write(tmp_path / "cpu.max", content)
    assert cgroup_cpu_quota(tmp_path) == quota


@pytest.mark.parametrize("folder", ["cpu", "cpu,cpuacct"])
@pytest.mark.parametrize(("quota_us", "quota"), [("50000", 0.5), ("-1", None)])
def test_cgroup_v1_cfs_quota(tmp_path: Path, folder: str, quota_us: str,
                             quota: float | None) -> None:
    _write(tmp_path / folder / "cpu.cfs_quota_us", quota_us + "\n")
    _write(tmp_path / folder / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_quota(tmp_path) == quota


def test_no_cgroup_files_is_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None
    assert usable_cpus(tmp_path) == MASK_CPUS


def test_a_fractional_quota_rounds_up_and_never_below_one(tmp_path: Path) -> None:
    _write(tmp_path / "cpu.max", "50000 100000\n")
    assert usable_cpus(tmp_path) == 1


def test_the_quota_never_raises_the_mask(tmp_path: Path) -> None:
    _write(tmp_path / "cpu.max", f"{(MASK_CPUS + 8) * 100000} 100000\n")
    assert usable_cpus(tmp_path) == MASK_CPUS


def test_a_quota_under_the_mask_caps_it(tmp_path: Path) -> None:
    _write(tmp_path / "cpu.max", "100000 100000\n")
    assert usable_cpus(tmp_path) == 1
