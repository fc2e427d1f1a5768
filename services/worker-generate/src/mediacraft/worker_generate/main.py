"""Wiring only: the generate worker pool runs the shared worker runtime with this service's processor."""

from __future__ import annotations

from mediacraft.shared.worker.serve import main


def run() -> None:
    """Run one generation worker (image_generation, video_generation) until SIGTERM."""
    from mediacraft.worker_generate.processor import build_processor
    from mediacraft.worker_generate.settings import GenerateSettings

    # built before serving, so that a wrong provider setting stops the start, not the first job
    processor = build_processor(GenerateSettings())
    try:
        main("generate", processor)
    finally:
        processor.close()
