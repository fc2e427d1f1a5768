"""Per-job scratch directories, locked while their job runs, so a later worker can tell leftovers.

Each job runs in `mc-<task>-<attempt>-*` under the worker's work dir, and its worker holds an
exclusive `flock` on that directory for as long as the job runs. The kernel drops the lock with
the process, however it ends (SIGKILL, OOM kill, a container restart), so a directory whose lock
nobody holds belongs to no running job: `sweep` removes those when a worker starts. A pid check
would not do: a restarted container usually gets the same pid as the one that died.

Only a work dir of the worker's own is swept (`MEDIACRAFT_WORK_DIR`); the system temp dir, shared
with other programs, is not.

Before a job a worker checks that its scratch space has room for it (`needed_bytes`, `space`): its
inputs' size times a factor, plus a reserve that is always kept free.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PREFIX = "mc-"
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class JobDir:
    """A job's scratch directory and the open descriptor that holds its lock."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def remove(self) -> None:
        """Delete the directory, then let go of its lock (blocking: call it in a thread)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def create(base: Path | None, task_id: str, attempt: int) -> JobDir:
    """A new locked directory for one attempt of a task (blocking: call it in a thread).

    A sweep may lock a directory between its creation and our lock, or remove it: then the lock
    is refused, or lands on a directory no longer at that path, and a fresh one is made.
    """
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    for _ in range(10):
        path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{task_id[:12]}-{attempt}-", dir=base))
        try:
            fd = os.open(path, _OPEN_DIR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return JobDir(path, fd)
        except (BlockingIOError, FileNotFoundError):
            pass
        os.close(fd)
    raise OSError(f"could not make a locked job directory under {base}")


def locked(path: Path) -> bool:
    """Whether some process holds the lock of a job directory (blocking: call it in a thread)."""
    try:
        fd = os.open(path, _OPEN_DIR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def sweep(base: Path) -> list[Path]:
    """Remove the job directories under `base` whose lock nobody holds; returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, _OPEN_DIR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a running job's
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed


def usage_bytes(base: Path) -> int:
    """Bytes the files under `base` take on disk (blocking: call it in a thread)."""
    total = 0
    for root, _dirs, files in os.walk(base):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue  # removed meanwhile
    return total


def free_bytes(base: Path) -> int:
    """Free bytes on the file system of `base` for an unprivileged writer."""
    return shutil.disk_usage(base).free


@dataclass(frozen=True)
class Space:
    """Scratch space as a worker counts it: free now, and the most it could ever have."""

    free: int
    capacity: int


def needed_bytes(input_sizes: Iterable[int], *, factor: float, reserve: int) -> int:
    """Free bytes a job needs before it starts: its inputs' total size times `factor`, plus `reserve`."""
    return math.ceil(factor * sum(input_sizes)) + reserve


def space(base: Path | None, limit: int | None = None) -> Space:
    """Free and total scratch bytes under `base` (None: the system temp dir), within `limit` (bytes
    the work dir may hold, which its file system does not show) when one is given (blocking)."""
    where = base if base is not None else Path(tempfile.gettempdir())
    disk = shutil.disk_usage(where)
    free, capacity = disk.free, disk.total
    if limit is not None:
        held = usage_bytes(where) if base is not None else 0
        free, capacity = min(free, max(0, limit - held)), min(capacity, limit)
    return Space(free=free, capacity=capacity)
