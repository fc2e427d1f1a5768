"""Wiring only: the merge worker pool runs the shared worker runtime with this service's processor."""

from __future__ import annotations

from mediacraft.shared.worker.serve import main


def run() -> None:
    """Run one merge worker until SIGTERM."""
    from mediacraft.worker_merge.processor import process

    main("merge", process)
