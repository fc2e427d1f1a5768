"""Job directories: locked while their job runs, and what dead workers left is swept at start."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediacraft.shared.worker import scratch

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def lock_holder() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes holding a job directory's lock until the test ends (another worker's running job)."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=10)


def hold_lock(path: Path, procs: list[subprocess.Popen[str]]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    procs.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"


def test_a_job_directory_is_locked_while_its_job_runs_and_gone_after(tmp_path: Path) -> None:
    jobdir = scratch.create(tmp_path / "work", "0123456789abcdef", 2)
    assert jobdir.path.parent == tmp_path / "work" and jobdir.path.name.startswith("mc-0123456789ab-2-")
    (jobdir.path / "input-000.mp4").write_bytes(b"x" * 5000)
    assert scratch.locked(jobdir.path)
    assert scratch.sweep(tmp_path / "work") == []  # a running job's directory stays
    assert jobdir.path.exists()
    jobdir.remove()
    assert not jobdir.path.exists()


def test_the_sweep_removes_what_nobody_holds_and_keeps_a_locked_one(
    tmp_path: Path, lock_holder: list[subprocess.Popen[str]]
) -> None:
    work = tmp_path / "work"
    left = work / "mc-deadbeef0000-1-abcd"  # a killed worker's: nobody holds its lock
    (left / "sub").mkdir(parents=True)
    (left / "sub" / "cleaned.mp4").write_bytes(b"y" * 1000)
    running = work / "mc-cafe00000000-3-efgh"  # another process's running job
    running.mkdir()
    (running / "input-000.mp4").write_bytes(b"z" * 1000)
    hold_lock(running, lock_holder)
    other = work / "notes"  # not a job directory
    other.mkdir()

    assert scratch.sweep(work) == [left]
    assert not left.exists()
    assert running.exists() and (running / "input-000.mp4").exists()
    assert other.exists()


def test_usage_counts_the_bytes_under_the_work_dir(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "mc-a-1-x").mkdir(parents=True)
    assert scratch.usage_bytes(work) == 0
    (work / "mc-a-1-x" / "big").write_bytes(b"b" * 100_000)
    assert scratch.usage_bytes(work) >= 100_000
    assert scratch.free_bytes(work) > 0


# --- room for a job ------------------------------------------------------------------------------


def test_a_job_needs_its_inputs_times_the_factor_plus_the_reserve() -> None:
    assert scratch.needed_bytes([100, 300], factor=3, reserve=1000) == 2200
    assert scratch.needed_bytes([], factor=3, reserve=1000) == 1000
    assert scratch.needed_bytes([10], factor=2.5, reserve=0) == 25
    assert scratch.needed_bytes([3], factor=0.5, reserve=0) == 2  # rounded up: never less than the estimate


def test_space_is_the_file_systems_without_a_limit(tmp_path: Path) -> None:
    room = scratch.space(tmp_path)
    disk = shutil.disk_usage(tmp_path)
    assert room.capacity == disk.total
    assert 0 < room.free <= disk.total


def test_space_within_a_limit_counts_what_the_work_dir_holds(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "mc-job").mkdir(parents=True)
    (work / "mc-job" / "input-000.mp4").write_bytes(b"x" * 64 * 1024)
    held = scratch.usage_bytes(work)
    assert held >= 64 * 1024
    limit = held + 10_000
    room = scratch.space(work, limit)
    assert room == scratch.Space(free=min(10_000, shutil.disk_usage(work).free), capacity=limit)
    assert scratch.space(work, held // 2).free == 0  # over its limit already: no room at all


def test_space_of_the_system_temp_dir_when_there_is_no_work_dir() -> None:
    room = scratch.space(None)
    assert room.capacity == shutil.disk_usage(tempfile.gettempdir()).total
