"""The worker's metrics agree with what its jobs did: a real runtime on the in-process bus runs jobs
that succeed, fail, fail and then succeed on their retry, get cancelled and get handed back, and
its registry counts exactly the outcome events it published; a pool built as the services build
it serves the same on its metrics port, with each runtime's readiness and scratch space."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from prometheus_client.parser import text_string_to_metric_families

from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.messages import CancelJob, Envelope, Message, RunJob
from mediacraft.shared.tasks import InputFile, TaskType
from mediacraft.shared.topology import CONTROL, JOBS
from mediacraft.shared.worker import serve
from mediacraft.shared.worker.contract import JobCancelledError, JobContext, ProcessorResult
from mediacraft.shared.worker.metrics import WorkerMetrics
from mediacraft.shared.worker.runtime import describe
from mediacraft.shared.worker.settings import WorkerSettings
from tests.fixtures.waiting import eventually
from tests.fixtures.worker_rig import WorkerRig, collect_job_events

POOL = "watermark"
OUTCOME_EVENTS = {"job.succeeded": "succeeded", "job.failed": "failed", "job.cancelled": "cancelled"}
CREATED = re.compile(r"^\w+_created[{ ]", re.MULTILINE)  # a sample line of a `_created` series


class Processor:
    """Does what the job's config says: ok, invalid (fails for good), flaky (fails its first
    attempt, retryably), hold (runs until cancelled or the worker stops)."""

    def __init__(self) -> None:
        self.holding = threading.Event()

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        do = ctx.config.get("do", "ok")
        if do == "invalid":
            raise InvalidInput("the regions are outside the frame", code="invalid_regions")
        if do == "flaky" and ctx.attempt == 1:
            raise RetryableError("storage timed out", code="storage_unavailable")
        if do == "hold":
            self.holding.set()
            if not ctx.cancel_event.wait(timeout=30):
                raise AssertionError("never stopped")
            raise JobCancelledError("stopped")
        out = ctx.workdir / "result.bin"
        out.write_bytes(ctx.inputs[0].read_bytes())
        return ProcessorResult(path=out, content_type="application/octet-stream", filename="result.bin")


async def submit(rig: WorkerRig, task_id: str, attempt: int = 1, **config: Any) -> None:
    src = rig.tmp / f"{task_id}.src"
    src.write_bytes(b"x" * 4096)
    key = f"uploads/u1/{task_id}/clip.mp4"
    await rig.objects.put_file(key, src)
    job = RunJob(
        task_id=task_id,
        user_id="u1",
        attempt=attempt,
        task_type=TaskType.WATERMARK_REMOVAL,
        inputs=[InputFile(key=key, original_name="clip.mp4", size=4096)],
        config=config,
        output_key=f"results/{task_id}/{attempt}/",
    )
    await rig.bus.publish(JOBS, POOL, Envelope.wrap(job, correlation_id=task_id))


def value(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else float(found)


async def test_outcomes_durations_and_waits_agree_with_the_published_events(tmp_path: Path) -> None:
    processor = Processor()
    seen: list[Message] = []
    rig = WorkerRig(tmp_path, POOL, processor, shutdown_grace_seconds=0.2)
    await rig.__aenter__()
    try:
        m = rig.runtime.metrics
        worker = rig.runtime.worker_id
        assert value(m, "mediacraft_worker_taking_jobs", pool=POOL, worker=worker) == 1
        jobs = [("t1", 1, {"method": "delogo"}), ("t2", 1, {"do": "invalid"}), ("t3", 1, {"do": "flaky"})]
        jobs += [("t3", 2, {"do": "flaky"}), ("t4", 1, {"do": "ok", "method": "inpaint"})]
        for task_id, attempt, config in jobs:
            await submit(rig, task_id, attempt, **config)
            _, events = await rig.until(*OUTCOME_EVENTS, timeout=20)
            seen += events
        # cancelled while it runs
        await submit(rig, "t5", do="hold")
        await asyncio.wait_for(asyncio.to_thread(processor.holding.wait, 10), 11)
        await rig.bus.publish(CONTROL, "", Envelope.wrap(CancelJob(task_id="t5", attempt=1)))
        _, events = await rig.until("job.cancelled", timeout=20)
        seen += events
        # handed back: the worker stops while a job runs
        processor.holding.clear()
        await submit(rig, "t6", do="hold")
        await asyncio.wait_for(asyncio.to_thread(processor.holding.wait, 10), 11)
        _, events = await rig.until("job.started", timeout=20)
        seen += events
        await rig.runtime.stop(grace=0.2)
    finally:
        await rig.bus.close()
        await rig.objects.close()

    outcomes = [OUTCOME_EVENTS[e.TYPE] for e in seen if e.TYPE in OUTCOME_EVENTS]
    assert sorted(outcomes) == ["cancelled", "failed", "failed", "succeeded", "succeeded", "succeeded"]
    for outcome in ("succeeded", "failed", "cancelled"):
        assert value(m, "mediacraft_worker_jobs_total", pool=POOL, outcome=outcome) == outcomes.count(outcome)
    assert value(m, "mediacraft_worker_jobs_total", pool=POOL, outcome="handed_back") == 1  # t6
    codes = sorted(e.code for e in seen if e.TYPE == "job.failed")  # type: ignore[attr-defined]
    assert codes == ["invalid_regions", "storage_unavailable"]
    for code in codes:
        assert value(m, "mediacraft_worker_failures_total", pool=POOL, code=code) == 1
    assert value(m, "mediacraft_worker_cancellations_total", pool=POOL) == outcomes.count("cancelled")

    # a duration per job that ran to an outcome, under its method ("" when the config names none)
    duration = "mediacraft_worker_job_duration_seconds_count"
    by_method = {
        method: value(m, duration, pool=POOL, task_type="watermark_removal", method=method)
        for method in ("delogo", "inpaint", "")
    }
    assert by_method == {"delogo": 1, "inpaint": 1, "": len(outcomes) - 2}
    # a queue wait per job started (t6 included: it started, then went back)
    started = sum(1 for e in seen if e.TYPE == "job.started")
    assert started == 7
    assert value(m, "mediacraft_worker_queue_wait_seconds_count", pool=POOL) == started
    assert value(m, "mediacraft_worker_queue_wait_seconds_sum", pool=POOL) >= 0

    # read from the runtime at scrape time: a stopped worker takes no jobs
    state = describe(rig.runtime)
    assert value(m, "mediacraft_worker_taking_jobs", pool=POOL, worker=worker) == 0 == state["taking_jobs"]
    assert value(m, "mediacraft_worker_scratch_bytes", pool=POOL, worker=worker) == state["scratch_bytes"]
    free = value(m, "mediacraft_worker_scratch_free_bytes", pool=POOL, worker=worker)
    assert free == state["scratch_free_bytes"] and free > 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


async def test_a_pool_serves_its_runtimes_metrics_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    rig = WorkerRig(tmp_path, POOL, Processor())  # its bus and object store; the pool brings its runtimes
    settings = WorkerSettings(
        work_dir=str(tmp_path / "work"), metrics_host="127.0.0.1", metrics_port=port, worker_id="w"
    )
    adapters = cast(Any, SimpleNamespace(bus=rig.bus, objects=rig.objects))
    pool = serve.build_pool(POOL, Processor(), settings, adapters, replicas=2)
    await rig.bus.start()
    await rig.objects.start()
    await collect_job_events(rig.bus, rig.events)
    await pool.start()
    try:
        await submit(rig, "t1", method="delogo")
        await rig.until("job.succeeded", timeout=20)
        text, samples = await eventually(lambda: asyncio.to_thread(scrape, port), timeout=10, what="a scrape")
        assert not CREATED.search(text)  # no `<name>_created` series
        assert samples[("mediacraft_worker_jobs_total", (("outcome", "succeeded"), ("pool", POOL)))] == 1
        key = (
            "mediacraft_worker_job_duration_seconds_count",
            (("method", "delogo"), ("pool", POOL), ("task_type", "watermark_removal")),
        )
        assert samples[key] == 1
        for worker in ("w-0", "w-1"):
            labels = (("pool", POOL), ("worker", worker))
            assert samples[("mediacraft_worker_taking_jobs", labels)] == 1
            assert samples[("mediacraft_worker_scratch_free_bytes", labels)] > 0
            assert ("mediacraft_worker_scratch_bytes", labels) in samples
    finally:
        await pool.stop()
        await rig.bus.close()
        await rig.objects.close()
    try:
        await asyncio.to_thread(scrape, port)
    except OSError:
        pass  # the port closed with the pool
    else:
        raise AssertionError("the metrics port still answers after the pool stopped")
