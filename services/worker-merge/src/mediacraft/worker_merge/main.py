"""Wiring only: the merge worker pool runs the shared worker runtime with this service's processor.

`build` is the one wiring of this worker: its own process (`python -m mediacraft.worker_merge`) and the
single-process mode (several replicas over shared adapters) both call it.
"""

from __future__ import annotations

from typing import Any

from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.worker import serve
from mediacraft.shared.worker.settings import WorkerSettings

POOL = "merge"


def settings(**values: Any) -> WorkerSettings:
    """This worker's settings from the environment, with `values` on top."""
    return WorkerSettings(**{"service_name": "worker-merge", **values})


def build(settings: WorkerSettings, adapters: Adapters, *, replicas: int = 1) -> serve.WorkerPool:
    """`replicas` merge workers over the adapters' bus and object store."""
    from mediacraft.worker_merge.processor import process

    return serve.build_pool(POOL, process, settings, adapters, replicas=replicas)


def run() -> None:
    """Run one merge worker until SIGTERM/SIGINT."""
    serve.main(settings(), build)
