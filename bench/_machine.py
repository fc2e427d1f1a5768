"""How fast this machine runs Python right now, so figures from different runs can be compared.

The virtual machines these benchmarks run on change speed from one hour to the next (the same
build has measured twice as fast on one day as on another). Each benchmark times this fixed
workload beside its figures: a figure that halves while the reference doubles is the machine, not
the code. The workload is what the services spend their CPU on: building, encoding and decoding
JSON documents the size of a task and walking dicts.
"""

from __future__ import annotations

import json
import time

_DOC = {
    "task_id": "0" * 32,
    "user_id": "u" * 32,
    "status": "processing",
    "inputs": [{"key": f"uploads/u/{n}/in.mp4", "original_name": f"clip-{n}.mp4", "size": 1 << 20} for n in range(3)],
    "config": {"mode": "quality", "regions": [[10, 20, 100, 40], [300, 20, 80, 30]]},
    "progress": 42.5,
    "subtasks": [
        {"name": "detect", "status": "completed", "progress": 100.0, "message": None},
        {"name": "inpaint", "status": "running", "progress": 12.0, "message": "frame 12 of 100"},
    ],
}


def _workload(rounds: int) -> int:
    total = 0
    for n in range(rounds):
        doc = dict(_DOC, attempt=n)
        decoded = json.loads(json.dumps(doc))
        total += len(decoded["inputs"]) + sum(len(k) for k in decoded)
    return total


def reference_ms(rounds: int = 20_000, repeats: int = 3) -> float:
    """Milliseconds for the fixed workload (the best of a few tries; lower is a faster machine)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        _workload(rounds)
        best = min(best, time.perf_counter() - started)
    return best * 1000
