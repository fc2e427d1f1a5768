"""The Celery side of bench.scheduler: a no-op task on the same broker (the worker imports this).

`python -m bench._celery_noop URL TASKS TIMEOUT LOGFILE` times one round in a process of its own
(a Celery app keeps its broker connections for good, and every round has a vhost of its own) and
prints the figures as JSON. The underscore keeps `python -m bench` from running it as a benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
from celery import Celery

from bench._procs import cpu_seconds, stop

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


def timed_round(url: str, tasks: int, timeout: float, log_path: Path) -> dict[str, float]:
    """Start a worker (prefork, its default concurrency), run `tasks` no-ops through it, stop it."""
    root = Path(__file__).resolve().parents[1]
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench._celery_noop",
                "worker",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                "bench-noop",
            ],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "BENCH_CELERY_BROKER": url},
        )
        try:
            deadline = time.monotonic() + 60
            while not app.control.ping(timeout=0.5):
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"celery worker did not start: {log_path.read_text()[-2000:]}")
            noop.delay(-1).get(timeout=30)  # warm: connections and pools exist before timing
            proc = psutil.Process(worker.pid)
            workers = [proc, *proc.children(recursive=True)]
            cpu0 = sum(cpu_seconds(p) for p in workers)
            began = time.perf_counter()
            results = [noop.delay(n) for n in range(tasks)]
            for r in results:
                r.get(timeout=timeout)
            elapsed = time.perf_counter() - began
            cpu = sum(cpu_seconds(p) for p in workers) - cpu0
            return {"rate": tasks / elapsed, "elapsed": elapsed, "cpu": cpu}
        finally:
            stop(worker, timeout=30)
            app.close()


if __name__ == "__main__":
    url, count, limit, log_file = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])
    print(json.dumps(timed_round(url, count, limit, log_file)))
