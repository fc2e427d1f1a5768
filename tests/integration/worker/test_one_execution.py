"""One execution per attempt on a real RabbitMQ: every connection closed (`close_all_connections`)
while jobs run, twice (the broker then redelivers each job in flight, whose first run goes on),
and every job still runs exactly once. A fault drill: it runs on the private drill node
(tests/fixtures/drill_broker.py), never on the shared broker, and reports executions per task."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.adapters.factory import make_bus, make_object_store
from mediacraft.shared.messages import Envelope, RunJob
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.tasks import InputFile, TaskType
from mediacraft.shared.topology import JOBS, build_topology, job_queue
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.shared.worker.runtime import Executions, WorkerRuntime
from mediacraft.shared.worker.settings import WorkerSettings
from tests.fixtures.drill_broker import DrillBroker
from tests.fixtures.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.drill]

TOPOLOGY = build_topology((1000,))
JOBS_IN_ALL = 5
HOLD_SECONDS = 5.0  # each run: long enough for a connection close (a rabbitmqctl call) to land mid-job


class Executed:
    """What the processors ran, counted per task, from their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()

    def process(self, ctx: JobContext) -> ProcessorResult:
        with self.lock:
            self.started[ctx.task_id] += 1
        ctx.cancel_event.wait(HOLD_SECONDS)
        out = ctx.workdir / "result.bin"
        out.write_bytes(ctx.inputs[0].read_bytes())
        with self.lock:
            self.ended[ctx.task_id] += 1
        return ProcessorResult(path=out, content_type="application/octet-stream", filename="result.bin")

    def running(self) -> int:
        with self.lock:
            return sum(self.started.values()) - sum(self.ended.values())


@pytest.fixture
async def buses() -> AsyncIterator[list[Bus]]:
    made: list[Bus] = []
    yield made
    for bus in made:
        await bus.close()


def queued_messages(broker: DrillBroker, vhost: str, queue: str) -> int:
    """Ready plus unacked messages of `queue`, as the broker counts them."""
    for line in broker.ctl("list_queues", "-q", "-p", vhost, "name", "messages").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == queue:
            return int(fields[1])
    raise AssertionError(f"no queue {queue}")


async def test_closing_connections_under_load_runs_each_job_exactly_once(
    tmp_path: Path, drill_broker: DrillBroker, buses: list[Bus], drill_record: Callable[[str, Any], None]
) -> None:
    vhost = drill_broker.new_vhost()
    url = drill_broker.url(vhost)
    objects = make_object_store(f"file://{tmp_path / 'objects'}")
    await objects.start()
    executed = Executed()
    runtimes: list[WorkerRuntime] = []
    for n in range(2):  # two worker processes, as far as buses and attempts go
        bus = make_bus(url, topology=TOPOLOGY, connection_name=f"worker-{n}")
        buses.append(bus)
        await bus.start()
        settings = WorkerSettings(
            work_dir=str(tmp_path / f"work-{n}"),
            worker_id=f"worker-{n}",
            heartbeat_seconds=0.5,
            progress_interval_seconds=0.2,
        )
        runtime = WorkerRuntime(
            pool="watermark",
            processor=executed.process,
            bus=bus,
            objects=objects,
            settings=settings,
            executions=Executions(),
        )
        await runtime.start()
        runtimes.append(runtime)

    submitter = make_bus(url, topology=TOPOLOGY, connection_name="submitter")
    buses.append(submitter)
    await submitter.start()
    src = tmp_path / "clip.bin"
    src.write_bytes(b"clip" * 1024)
    key = "uploads/u1/clip.bin"
    await objects.put_file(key, src)
    tasks = [f"task-{n}" for n in range(JOBS_IN_ALL)]
    for task_id in tasks:
        job = RunJob(
            task_id=task_id,
            user_id="u1",
            attempt=1,
            task_type=TaskType.WATERMARK_REMOVAL,
            inputs=[InputFile(key=key, original_name="clip.bin", size=src.stat().st_size)],
            output_key=f"results/{task_id}/1/",
        )
        await submitter.publish(JOBS, "watermark", Envelope.wrap(job, correlation_id=task_id))

    # two outages, each while both workers are in the middle of a job (other jobs each time)
    for outage in range(2):

        def both_busy(ended: int = 2 * outage) -> bool:
            return sum(executed.ended.values()) >= ended and executed.running() == 2

        await eventually(both_busy, timeout=60, what=f"two jobs running before outage {outage}")
        await asyncio.to_thread(drill_broker.close_all_connections)

    def all_settled() -> bool:
        return (
            set(executed.ended) == set(tasks)
            and executed.running() == 0
            and queued_messages(drill_broker, vhost, job_queue("watermark")) == 0
        )

    await eventually(all_settled, timeout=90, interval=1.0, what="every job run and acked")
    drill_record("jobs", len(tasks))
    drill_record("connection cuts", 2)
    drill_record("executions per job (max)", max(executed.started.values()))
    drill_record("redelivered copies dropped", sum(r.duplicates_dropped for r in runtimes))
    assert dict(executed.started) == dict.fromkeys(tasks, 1)
    assert dict(executed.ended) == dict.fromkeys(tasks, 1)
    # the copies the broker redelivered were there, and dropped
    assert sum(r.duplicates_dropped for r in runtimes) >= 2
    for runtime in runtimes:
        await runtime.stop(grace=5)
    await objects.close()
