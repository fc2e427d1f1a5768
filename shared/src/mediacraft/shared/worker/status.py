"""A worker's readiness on disk, for the readiness exec probe (workers serve no HTTP).

Each runtime of a process that is given a status file (`MEDIACRAFT_STATUS_FILE`) writes its state
there: whether it takes jobs, its free and needed scratch bytes, what its work dir holds. Runtimes
of one process that share the path share the file, one entry each under `workers`; the top-level
`taking_jobs` is true while any of them takes jobs. The file is replaced whole (a temp file, then a
rename), so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_entries: dict[Path, dict[str, dict[str, Any]]] = {}


def write(path: Path, worker_id: str, state: dict[str, Any]) -> None:
    """Record `state` for `worker_id` and rewrite the file at `path` (blocking: call it in a thread)."""
    with _lock:
        workers = _entries.setdefault(path, {})
        workers[worker_id] = dict(state)
        document = {
            "taking_jobs": any(bool(w.get("taking_jobs")) for w in workers.values()),
            "updated_at": round(time.time(), 3),
            "workers": workers,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(document, sort_keys=True))
        os.replace(temp, path)


def read(path: Path) -> dict[str, Any]:
    """The document at `path` (blocking)."""
    document: dict[str, Any] = json.loads(path.read_text())
    return document
