"""The worker status file the readiness probe reads: one entry per runtime, replaced whole."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mediacraft.shared.worker import status


def state(taking: bool, free: int = 5000) -> dict[str, object]:
    return {"pool": "merge", "taking_jobs": taking, "scratch_free_bytes": free, "scratch_bytes": 0}


def test_the_file_holds_each_runtimes_state_and_takes_jobs_while_any_does(tmp_path: Path) -> None:
    path = tmp_path / "run" / "worker-status.json"  # its directory is made when missing
    before = time.time()

    status.write(path, "w-0", state(True))
    status.write(path, "w-1", state(False, free=10))
    doc = status.read(path)
    assert doc["taking_jobs"] is True
    assert doc["workers"]["w-1"] == state(False, free=10)
    assert doc["updated_at"] >= round(before, 3) - 0.001

    status.write(path, "w-0", state(False, free=20))
    doc = json.loads(path.read_text())
    assert doc["taking_jobs"] is False
    assert set(doc["workers"]) == {"w-0", "w-1"}
    # replaced by a rename: no temp file is left beside it
    assert [p.name for p in path.parent.iterdir()] == ["worker-status.json"]


def test_runtimes_writing_other_files_do_not_share_entries(tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    status.write(one, "a", state(True))
    status.write(two, "b", state(False))
    assert set(status.read(one)["workers"]) == {"a"}
    assert status.read(two)["taking_jobs"] is False
