"""Wiring only: the generate worker pool runs the shared worker runtime with this service's processor.

`build` is the one wiring of this worker: its own process (`python -m mediacraft.worker_generate`)
and the single-process mode (over shared adapters) both call it, so both use the provider the
settings choose.
"""

from __future__ import annotations

from typing import Any

from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.worker import serve
from mediacraft.worker_generate.settings import GenerateSettings

POOL = "generate"


def settings(**values: Any) -> GenerateSettings:
    """This worker's settings from the environment, with `values` on top."""
    return GenerateSettings(**values)


def build(settings: GenerateSettings, adapters: Adapters, *, replicas: int = 1) -> serve.WorkerPool:
    """`replicas` generation workers (image_generation, video_generation, video_script) sharing one processor.

    The processor is built here, before anything starts, so that a wrong provider setting stops
    the start rather than the first job; it is closed when the pool stops.
    """
    from mediacraft.worker_generate.pool import build_pool_processor

    processor = build_pool_processor(settings)
    return serve.build_pool(POOL, processor, settings, adapters, replicas=replicas, on_stop=processor.close)


def run() -> None:
    """Run one generation worker until SIGTERM/SIGINT."""
    serve.main(settings(), build)
