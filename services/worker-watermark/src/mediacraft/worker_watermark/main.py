"""Wiring only: the watermark worker pool runs the shared worker runtime with this service's processor.

`build` is the one wiring of this worker: its own process (`python -m mediacraft.worker_watermark`) and the
single-process mode (several replicas over shared adapters) both call it.
"""

from __future__ import annotations

from mediacraft.shared.worker.serve import ModuleWorker

WORKER = ModuleWorker(
    pool="watermark",
    service_name="worker-watermark",
    processor_module="mediacraft.worker_watermark.processor",
    detector_module="mediacraft.worker_watermark.detection_job",
)
POOL = WORKER.pool
settings = WORKER.settings
build = WORKER.build
run = WORKER.run
