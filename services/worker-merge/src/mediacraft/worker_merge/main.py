"""Wiring only: the merge worker pool runs the shared worker runtime with this service's processor.

`build` is the one wiring of this worker: its own process (`python -m mediacraft.worker_merge`) and the
single-process mode (several replicas over shared adapters) both call it.
"""

from __future__ import annotations

from mediacraft.shared.worker.serve import ModuleWorker

WORKER = ModuleWorker(pool="merge", service_name="worker-merge", processor_module="mediacraft.worker_merge.processor")
POOL = WORKER.pool
settings = WORKER.settings
build = WORKER.build
run = WORKER.run
