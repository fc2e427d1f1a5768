"""The Celery side of bench.scheduler: a no-op task on the same broker (the worker imports this).

The underscore keeps `python -m bench` from running it as a benchmark of its own.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery(
    "mediacraft_bench",
    broker=os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
    backend="rpc://",
)
app.conf.update(
    task_default_queue="bench-noop",
    task_acks_late=True,  # like our workers: ack when the job is done
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop(n: int) -> int:
    """Does nothing: the benchmark measures the machinery around it."""
    return n
