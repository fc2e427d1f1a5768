"""The worker services' one wiring: a pool's runtimes over the given adapters, as a process part.

Each worker service's `build(settings, adapters)` calls `build_pool` with its processor, and its
main calls `main`; the single-process mode calls the same `build` with its shared adapters and
several replicas. A worker holds no task store: it makes only the bus and the object store.
A pool's runtimes share one `WorkerMetrics`, served on the settings' `metrics_port` (0: not served).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mediacraft.shared import eventloop
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.metrics_server import MetricsServer
from mediacraft.shared.process import BasePart, Part, run_until_signal
from mediacraft.shared.tracing import configure_tracing
from mediacraft.shared.worker.contract import Processor
from mediacraft.shared.worker.metrics import WorkerMetrics
from mediacraft.shared.worker.runtime import Detector, WorkerRuntime
from mediacraft.shared.worker.settings import WorkerSettings

log = get_logger(__name__)

S = TypeVar("S", bound=WorkerSettings)


class WorkerPool(BasePart):
    """Runtimes of one pool sharing a processor; on stop each finishes or hands back its job
    within the settings' shutdown grace, all at once."""

    def __init__(
        self,
        pool: str,
        runtimes: list[WorkerRuntime],
        *,
        on_stop: Callable[[], None] | None = None,
        metrics: MetricsServer | None = None,
    ) -> None:
        self.pool = pool
        self.runtimes = runtimes
        self.on_stop = on_stop
        self.metrics = metrics

    async def start(self) -> None:
        """Serve the metrics (a taken port stops the start before any job is taken), take jobs."""
        if self.metrics is not None:
            self.metrics.start()
        for runtime in self.runtimes:
            await runtime.start()

    async def stop(self) -> None:
        """Take no new jobs; let the current ones finish or hand them back; release the processor."""
        log.info("stopping: no new jobs", pool=self.pool)
        try:
            await asyncio.gather(*(runtime.stop() for runtime in self.runtimes))
        finally:
            if self.metrics is not None:
                self.metrics.stop()
            if self.on_stop is not None:
                self.on_stop()


def build_pool(
    pool: str,
    processor: Processor,
    settings: WorkerSettings,
    adapters: Adapters,
    *,
    replicas: int = 1,
    on_stop: Callable[[], None] | None = None,
    detector: Detector | None = None,
) -> WorkerPool:
    """`replicas` runtimes of `pool` over the adapters' bus and object store (ids suffixed -0, -1, ...
    when there are several)."""
    runtimes = []
    metrics = WorkerMetrics(pool)
    for n in range(replicas):
        runtime = WorkerRuntime(
            pool=pool,
            processor=processor,
            bus=adapters.bus,
            objects=adapters.objects,
            settings=settings,
            detector=detector,
            metrics=metrics,
        )
        if replicas > 1:
            runtime.worker_id = f"{runtime.worker_id}-{n}"
        runtimes.append(runtime)
    server = MetricsServer(metrics.registry, host=settings.metrics_host, port=settings.metrics_port)
    return WorkerPool(pool, runtimes, on_stop=on_stop, metrics=server)


def main(settings: S, build: Callable[[S, Adapters], Part]) -> None:
    """Console-script body shared by the worker services: run one worker until SIGTERM/SIGINT."""
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    configure_tracing(settings.service_name)
    adapters = Adapters(settings)
    eventloop.run(run_until_signal([build(settings, adapters)], adapters))


@dataclass(frozen=True)
class ModuleWorker:
    """The whole wiring of a worker service whose processor is the `process` function of a module
    (watermark, merge): its settings, its `build` and its console script, written once."""

    pool: str
    service_name: str
    processor_module: str
    detector_module: str | None = None  # a module whose `detect` answers the pool's detection jobs

    def settings(self, **values: Any) -> WorkerSettings:
        """The worker's settings from the environment, with `values` on top."""
        return WorkerSettings(**{"service_name": self.service_name, **values})

    def build(self, settings: WorkerSettings, adapters: Adapters, *, replicas: int = 1) -> WorkerPool:
        """`replicas` workers of the pool over the adapters' bus and object store."""
        # imported here, not at module import: the media libraries load only where a worker runs
        process: Processor = importlib.import_module(self.processor_module).process
        detector: Detector | None = None
        if self.detector_module is not None:
            detector = importlib.import_module(self.detector_module).detect
        return build_pool(self.pool, process, settings, adapters, replicas=replicas, detector=detector)

    def run(self) -> None:
        """Run one worker until SIGTERM/SIGINT."""
        main(self.settings(), self.build)
