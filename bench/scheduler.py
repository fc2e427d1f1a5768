"""Scheduler throughput and dispatch latency on the real broker, beside Celery 5 in the same run.

    python -m bench.scheduler [--tasks 2000] [--users 20] [--quota-per-user 1] [--quota-global 10]

In a temporary vhost of its own per run (made and deleted with rabbitmqctl) on 127.0.0.1:5672,
with a SQLite store in a temporary folder (synchronous=NORMAL for the main figures, and one run
with FULL, every commit synced, beside them):
- the scheduler runs as in production, `python -m mediacraft.scheduler`, in its own process;
- this process plays the gateway (drafts inserted beforehand; each submit is the gateway's
  compare-and-set to queued plus a SubmitTask), a worker pool with as many slots as the global
  quota, and a live view listening to task.status_changed;
- lifecycle throughput, no-op jobs: tasks from the first submit to the last `completed` event
  (published after the store write): submit, quota check, dispatch, started, finished, stored;
- dispatch latency: from a worker publishing JobSucceeded (its slot frees) to the
  worker receiving the RunJob that the scheduler sent because of it (matched by the job's causation
  id), counted once the scheduler has handled every submit (a marker retry sent after the last
  submit comes back as `queued`): with no-op jobs every slot turns over as fast as the scheduler
  goes, so that figure is the saturated cycle time (slots / rate); a second, shorter run with jobs
  of `--job-seconds` shows the scheduler's reaction time when it is not saturated;
- rounds: the main run and the Celery baseline take turns `--rounds` times (the machine's speed
  drifts); the median round is printed in full and the ratio is the median of the rounds' ratios;
- Celery 5 baseline: the same number of no-op tasks through a Celery worker process (prefork, its
  default concurrency, late acks, rpc results) on the same broker, timed from the first
  `apply_async` to the last result received.
CPU use of the scheduler, the broker and this process during each run shows what bounds it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench._machine import reference_ms
from bench._procs import cpu_seconds, stop
from bench._stats import percentile
from mediacraft.shared import eventloop, transitions
from mediacraft.shared.adapters.bus.rabbitmq import RabbitBus
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import utcnow
from mediacraft.shared.messages import (
    Envelope,
    JobStarted,
    JobSucceeded,
    RetryTask,
    RunJob,
    SubmitTask,
    TaskStatusChanged,
)
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import InputFile, ResultFile, Task, TaskStatus, TaskType
from mediacraft.shared.topology import COMMANDS, EVENTS, SCHEDULER_KEY, build_topology, job_queue

ROOT = Path(__file__).resolve().parents[1]
POOL = "merge"
TASK_TYPE = TaskType.VIDEO_MERGE
TARGET_RATE = 300.0
TARGET_P99_MS = 50.0


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "--quiet", *args], check=True, capture_output=True, timeout=120)


@dataclass
class Measures:
    """What the no-op workers and the event listener saw, on this process's perf_counter."""

    freed_at: dict[str, float] = field(default_factory=dict)  # JobSucceeded message id -> sent at
    latencies: list[float] = field(default_factory=list)
    hops: list[float] = field(default_factory=list)  # publish -> broker confirm on the quorum inbox
    started: int = 0
    completed: int = 0
    first_submit: float = 0.0
    last_completed: float = 0.0
    barrier: float | None = None  # when the scheduler had handled every submit
    expected: int = 0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)


class NoopWorkers:
    """A worker pool that does nothing but answer, as fast as the bus lets it."""

    def __init__(self, bus: RabbitBus, measures: Measures, slots: int, job_seconds: float) -> None:
        self.bus, self.m, self.slots, self.job_seconds = bus, measures, slots, job_seconds

    async def start(self) -> None:
        await self.bus.consume(job_queue(POOL), self.on_job, prefetch=self.slots)

    async def on_job(self, incoming: Incoming) -> None:
        received = time.perf_counter()
        job = incoming.envelope.open()
        assert isinstance(job, RunJob)
        freed = self.m.freed_at.pop(incoming.envelope.causation_id or "", None)
        if freed is not None and self.m.barrier is not None and freed >= self.m.barrier:
            self.m.latencies.append(received - freed)
        self.m.started += 1
        started = JobStarted(task_id=job.task_id, attempt=job.attempt, worker_id="bench")
        await self.bus.publish(EVENTS, JobStarted.TYPE, Envelope.wrap(started, correlation_id=job.task_id))
        if self.job_seconds:
            await asyncio.sleep(self.job_seconds)
        result = ResultFile(key=f"{job.output_key}result.bin", size=0)
        done = Envelope.wrap(
            JobSucceeded(task_id=job.task_id, attempt=job.attempt, result=result), correlation_id=job.task_id
        )
        freed = self.m.freed_at[done.message_id] = time.perf_counter()
        await self.bus.publish(EVENTS, JobSucceeded.TYPE, done)
        if self.m.barrier is not None:
            self.m.hops.append(time.perf_counter() - freed)


def _scheduler_env(url: str, db: Path, args: argparse.Namespace, synchronous: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIACRAFT_")}
    env.update(
        {
            "MEDIACRAFT_BUS_URL": url,
            "MEDIACRAFT_STORE_URL": f"sqlite:///{db}?synchronous={synchronous}",
            "MEDIACRAFT_QUOTA_PER_USER": str(args.quota_per_user),
            "MEDIACRAFT_QUOTA_GLOBAL": str(args.quota_global),
            "MEDIACRAFT_LOG_LEVEL": "WARNING",
            "MEDIACRAFT_LOG_JSON": "true",
            "MEDIACRAFT_ENVIRONMENT": "test",
        }
    )
    return env


async def _wait_active(store: SqliteStore, bus: RabbitBus, deadline: float) -> None:
    """Submit one probe task and wait for its completion: the scheduler is up and active."""
    task = await _insert_draft(store, "probe-user", 0)
    await _submit(store, bus, task)
    while time.monotonic() < deadline:
        current = await store.get(task.task_id)
        if current is not None and current.status == TaskStatus.COMPLETED:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the scheduler did not complete a probe task in time")


async def _insert_draft(store: SqliteStore, user: str, n: int) -> Task:
    task_id = uuid.uuid4().hex
    return await store.insert(
        Task(
            task_id=task_id,
            user_id=user,
            task_type=TASK_TYPE,
            status=TaskStatus.UPLOADED,
            created_at=utcnow(),
            inputs=[InputFile(key=f"uploads/{user}/{task_id}/in.mp4", original_name=f"in-{n}.mp4", size=1)],
        )
    )


async def _submit(store: SqliteStore, bus: RabbitBus, task: Task) -> None:
    """What the gateway's submit does: compare-and-set to queued, then the nudge."""
    queued = await store.transition(
        task.task_id, transitions.SUBMIT, expected_version=task.version, changes={"submitted_at": utcnow()}
    )
    cmd = SubmitTask(
        task_id=queued.task_id,
        user_id=queued.user_id,
        task_type=queued.task_type,
        version=queued.version,
        submitted_at=queued.submitted_at,
    )
    await bus.publish(COMMANDS, SCHEDULER_KEY, Envelope.wrap(cmd, correlation_id=queued.task_id))


class CpuWatch:
    """CPU seconds used by some processes between start() and stop()."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self.procs = procs
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: cpu_seconds(p) for name, p in self.procs.items()}

    def stop(self) -> None:
        self.used = {name: cpu_seconds(p) - self.before[name] for name, p in self.procs.items()}


def _broker_process() -> psutil.Process | None:
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "beam.smp" and "rabbit" in " ".join(p.info["cmdline"] or []):
            return p
    return None


async def run_mediacraft(
    url: str, args: argparse.Namespace, workdir: Path, *, tasks: int, job_seconds: float, synchronous: str = "NORMAL"
) -> dict[str, Any]:
    """Tasks through the scheduler's whole lifecycle; returns rate, latencies and CPU use."""
    db = workdir / "tasks.db"
    topology = build_topology()
    store = SqliteStore(db, synchronous=synchronous)
    await store.start()
    client = RabbitBus(url, topology=topology, connection_name="bench-client")
    workers_bus = RabbitBus(url, topology=topology, connection_name="bench-workers")
    await client.start()
    await workers_bus.start()
    log = (workdir / "scheduler.log").open("wb")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "mediacraft.scheduler"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_scheduler_env(url, db, args, synchronous),
    )
    m = Measures(expected=tasks + 1)
    try:
        await NoopWorkers(workers_bus, m, args.quota_global, job_seconds).start()
        marker = await store.insert(
            Task(
                task_id=uuid.uuid4().hex,
                user_id="bench-marker",
                task_type=TASK_TYPE,
                status=TaskStatus.FAILED,
                created_at=utcnow(),
            )
        )

        async def on_event(incoming: Incoming) -> None:
            env = incoming.envelope
            status = env.payload.get("status")
            if env.correlation_id == marker.task_id and status == TaskStatus.QUEUED and m.barrier is None:
                m.barrier = time.perf_counter()
            if env.type == TaskStatusChanged.TYPE and status == TaskStatus.COMPLETED:
                m.completed += 1
                m.last_completed = time.perf_counter()
                if m.completed >= m.expected:
                    m.all_done.set()

        await _wait_active(store, client, time.monotonic() + 60)
        listen = await client.declare_private_queue([(EVENTS, TaskStatusChanged.TYPE)])
        users = [f"user{i}" for i in range(args.users)]
        drafts = [await _insert_draft(store, users[n % len(users)], n) for n in range(tasks)]
        await client.consume(listen, on_event, prefetch=500)
        m.freed_at.clear()
        cpu = CpuWatch(
            {"scheduler": psutil.Process(scheduler.pid), "bench (gateway+workers)": psutil.Process()}
            | ({"rabbitmq": b} if (b := _broker_process()) else {})
        )
        cpu.start()
        m.first_submit = time.perf_counter()
        window = 32  # submits in flight, like many people pressing the button at once
        for i in range(0, len(drafts), window):
            await asyncio.gather(*(_submit(store, client, d) for d in drafts[i : i + window]))
        submitted = time.perf_counter()
        # commands are handled in order: when this retry shows up as queued, every submit was handled
        retry = RetryTask(task_id=marker.task_id, user_id=marker.user_id)
        await client.publish(COMMANDS, SCHEDULER_KEY, Envelope.wrap(retry, correlation_id=marker.task_id))
        await asyncio.wait_for(m.all_done.wait(), timeout=args.timeout)
        cpu.stop()
        elapsed = m.last_completed - m.first_submit
        counts: dict[str, int] = {}
        for user in [*users, marker.user_id]:
            for status, n in (await store.count_by_status(user)).items():
                counts[status] = counts.get(status, 0) + n
        if counts.get(TaskStatus.COMPLETED.value) != tasks + 1:  # with the marker
            raise RuntimeError(f"store does not show every task completed: {counts}")
        return {
            "tasks": tasks,
            "rate": m.expected / elapsed,
            "elapsed": elapsed,
            "submit_rate": tasks / (submitted - m.first_submit),
            "latencies": sorted(m.latencies),
            "hops": sorted(m.hops),
            "cpu": cpu.used,
            "job_seconds": job_seconds,
            "synchronous": synchronous,
        }
    finally:
        stop(scheduler, timeout=20)
        log.close()
        await client.close()
        await workers_bus.close()
        await store.close()


def run_celery(url: str, tasks: int, workdir: Path, timeout: float) -> dict[str, Any]:
    """The same number of no-op tasks through Celery 5 on the same broker (bench/_celery_noop.py)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench._celery_noop", url, str(tasks), str(timeout), str(workdir / "celery.log")],
        cwd=ROOT,
        env={**os.environ, "BENCH_CELERY_BROKER": url},
        capture_output=True,
        text=True,
        timeout=timeout + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the celery round failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {"rate": figures["rate"], "elapsed": figures["elapsed"], "cpu": {"celery worker": figures["cpu"]}}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _latency_line(lat: list[float]) -> str:
    if not lat:
        return "no samples"
    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    verdict = "met" if p99 * 1000 < TARGET_P99_MS else "MISSED"
    return (
        f"{len(lat)} samples: p50 {_ms(p50)}, p99 {_ms(p99)}, max {_ms(lat[-1])}  "
        f"(target p99 < {TARGET_P99_MS:.0f} ms: {verdict})"
    )


def _cpu_line(run: dict[str, Any]) -> str:
    per = run["tasks"]
    return ", ".join(
        f"{name} {used / run['elapsed'] * 100:.0f}% of a core ({used / per * 1000:.2f} ms/task)"
        for name, used in run["cpu"].items()
    )


def report(
    rounds: list[tuple[dict[str, Any], dict[str, Any] | None]],
    full: dict[str, Any] | None,
    loaded: dict[str, Any] | None,
    args: argparse.Namespace,
) -> None:
    """Print the figures (the median round in full), the ratio, and what bounds the throughput."""
    by_rate = sorted(rounds, key=lambda r: r[0]["rate"])
    ours, celery = by_rate[len(by_rate) // 2]
    print(f"tasks: {args.tasks}, users: {args.users}, quotas: {args.quota_per_user}/user, {args.quota_global} total")
    if len(rounds) > 1:
        line = ", ".join(
            f"{o['rate']:.0f}" + (f" vs celery {c['rate']:.0f} ({o['rate'] / c['rate']:.2f})" if c else "")
            for o, c in rounds
        )
        print(f"{len(rounds)} rounds, in order, tasks/s: {line}; the median round follows")
    print(
        "machine speed before/after each round (bench/_machine.py's fixed Python workload, lower is faster; "
        "compare runs with like figures): "
        + ", ".join(f"{o['reference_ms'][0]:.0f}/{o['reference_ms'][1]:.0f} ms" for o, _ in rounds)
    )
    for run in (r for r in (ours, full) if r is not None):
        verdict = "met" if run["rate"] >= TARGET_RATE else "MISSED"
        print(
            f"mediacraft lifecycle, no-op jobs, SQLite synchronous={run['synchronous']}: {run['rate']:.0f} tasks/s "
            f"({run['tasks']} in {run['elapsed']:.2f} s; submits offered at {run['submit_rate']:.0f}/s)  "
            f"(target >= {TARGET_RATE:.0f}: {verdict})"
        )
        print(f"  dispatch latency, saturated (every slot turning over at once): {_latency_line(run['latencies'])}")
        print(f"  CPU: {_cpu_line(run)}")
    if loaded is not None:
        print(
            f"mediacraft, {loaded['tasks']} jobs of {loaded['job_seconds'] * 1000:.0f} ms, SQLite "
            f"synchronous={loaded['synchronous']}: {loaded['rate']:.0f} tasks/s"
        )
        print(f"  dispatch latency, not saturated: {_latency_line(loaded['latencies'])}")
        hops = loaded["hops"]
        if hops:
            print(
                f"  one broker hop meanwhile (a worker's publish to the quorum inbox until confirmed): "
                f"p50 {_ms(percentile(hops, 0.5))}, p99 {_ms(percentile(hops, 0.99))}; a dispatch takes two "
                "such hops (the finished event in, the job out) besides the scheduler's own work"
            )
    if celery is not None:
        print(
            f"celery 5, no-op (prefork, default concurrency, acks_late, rpc results), same round: "
            f"{celery['rate']:.0f} tasks/s "
            f"({celery['elapsed']:.2f} s)"
        )
        ratios = sorted(o["rate"] / c["rate"] for o, c in rounds if c)
        print(
            f"ratio mediacraft (synchronous={ours['synchronous']}) / celery, median of the rounds: "
            f"{ratios[len(ratios) // 2]:.2f}"
        )
    cycle = args.quota_global / ours["rate"] * 1000
    total = sum(ours["cpu"].values()) / ours["elapsed"]
    per_task = sum(ours["cpu"].values()) / ours["tasks"] * 1000
    sched_ms = ours["cpu"]["scheduler"] / ours["tasks"] * 1000
    cores = psutil.cpu_count() or 1
    print(
        f"bound: {args.quota_global} slots cycle through one scheduler, so with no-op jobs a freed slot waits "
        f"about {cycle:.0f} ms (slots / rate) for its next job: the saturated latency is the cycle time. "
        "Three inbox messages per task (submit, started, finished) reach the scheduler through aio-pika; it "
        "handles whatever has arrived as a batch, each task's messages in order and different tasks' store "
        "writes in flight together, then fills the freed slots in one dispatch round; the no-op run kept "
        f"{total:.2f} of the machine's {cores} cores busy, shared by the scheduler, the broker (quorum queues write "
        "every job and event to disk before delivering it) and this process's gateway, workers and live view, "
        f"so the per-task CPU above is the budget to cut: {per_task:.1f} ms of CPU per task in all, so the "
        f"machine's {cores} cores cap the whole lifecycle at about {cores * 1000 / per_task:.0f} tasks/s, and the "
        f"scheduler alone, given a whole core, at about {1000 / sched_ms:.0f}. With synchronous=FULL every commit "
        "also waits for an fsync on the disk the broker syncs to. NORMAL is the main figure: like MongoDB's "
        "default journal (group commit), a crash of the process loses nothing, a power cut may lose the last commits."
    )


async def _in_vhost(args: argparse.Namespace, work: Any) -> Any:
    vhost = f"mcbench-sched-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    _ctl("add_vhost", vhost)
    _ctl("set_permissions", "--vhost", vhost, args.user, ".*", ".*", ".*")
    workdir = Path(tempfile.mkdtemp(prefix="mcbench-sched-"))
    try:
        return await work(f"{args.url_base.rstrip('/')}/{vhost}", workdir)
    finally:
        _ctl("delete_vhost", vhost)
        shutil.rmtree(workdir, ignore_errors=True)


async def _main_async(args: argparse.Namespace) -> None:
    # the main run and Celery take turns for a few rounds: this machine's speed drifts from one
    # minute to the next, and a ratio is only fair between runs made under the same conditions
    rounds: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for _ in range(max(1, args.rounds)):
        before = await asyncio.to_thread(reference_ms)
        ours = await _in_vhost(args, lambda url, wd: run_mediacraft(url, args, wd, tasks=args.tasks, job_seconds=0.0))
        ours["reference_ms"] = (before, await asyncio.to_thread(reference_ms))
        celery = None
        if not args.no_celery:
            celery = await _in_vhost(
                args, lambda url, wd: asyncio.to_thread(run_celery, url, args.tasks, wd, args.timeout)
            )
        rounds.append((ours, celery))
    full = None
    if args.full_tasks:
        full = await _in_vhost(
            args,
            lambda url, wd: run_mediacraft(url, args, wd, tasks=args.full_tasks, job_seconds=0.0, synchronous="FULL"),
        )
    loaded = None
    if args.latency_tasks:
        loaded = await _in_vhost(
            args, lambda url, wd: run_mediacraft(url, args, wd, tasks=args.latency_tasks, job_seconds=args.job_seconds)
        )
    report(rounds, full, loaded, args)


def main(argv: list[str] | None = None) -> None:
    """Run the scheduler benchmark and the Celery baseline; print figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--quota-per-user", type=int, default=1)
    parser.add_argument("--quota-global", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--full-tasks",
        type=int,
        default=1000,
        help="tasks of the run with SQLite synchronous=FULL, every commit synced (0 skips it)",
    )
    parser.add_argument("--no-celery", action="store_true", help="skip the Celery baseline")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the main run and Celery")
    parser.add_argument(
        "--latency-tasks", type=int, default=400, help="tasks of the not-saturated latency run (0 skips it)"
    )
    parser.add_argument("--job-seconds", type=float, default=0.3, help="job length in the latency run")
    parser.add_argument("--url-base", default="amqp://guest:guest@127.0.0.1:5672")
    parser.add_argument("--user", default="guest", help="broker user to grant the temporary vhost")
    args = parser.parse_args(argv)
    eventloop.run(_main_async(args))


if __name__ == "__main__":
    main()
