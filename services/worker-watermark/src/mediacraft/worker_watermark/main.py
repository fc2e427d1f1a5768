"""Wiring only: the watermark worker pool runs the shared worker runtime with this service's processor."""

from __future__ import annotations

from mediacraft.shared.worker.serve import main


def run() -> None:
    """Run one watermark worker until SIGTERM."""
    from mediacraft.worker_watermark.processor import process

    main("watermark", process)
