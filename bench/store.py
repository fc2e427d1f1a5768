"""Task store latency: page 1 of a user with 10,000 tasks, and the per-status counts.

For each adapter (SQLite in a temp dir; MongoDB chosen as the tests choose it: the server at
MEDIACRAFT_TEST_MONGO_URL, a testcontainers MongoDB when Docker answers, else mongomock-motor,
which is an in-memory fake and is labelled so) it seeds one user's tasks among other users',
then times the store calls against a raw query for the same rows measured in the same run.

    python -m bench.store [--tasks 10000] [--others 2000] [--calls 500] [--scale 100000]

It also times what the list endpoint reads for page 1 (the page and the per-status counts) at
1,000 and at --scale tasks of one user on SQLite: with kept counts the two should be close.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from mediacraft.shared.adapters.store.mongo import MongoStore
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.tasks import (
    InputFile,
    MediaInfo,
    ResultFile,
    Task,
    TaskStatus,
    TaskType,
)
from tests.fixtures.mongo import choose_backend, open_backend

USER = "bench-user"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# mostly finished work, as a long-time user's history is
STATUSES = [TaskStatus.COMPLETED] * 14 + [
    TaskStatus.FAILED,
    TaskStatus.QUEUED,
    TaskStatus.PROCESSING,
    TaskStatus.CREATED,
]
TYPES = list(TaskType)


@dataclass
class Timing:
    p50_ms: float
    p99_ms: float


def task(user_id: str, n: int) -> Task:
    """A realistic finished-or-running task document, created n seconds after T0."""
    created = T0 + timedelta(seconds=n)
    media = MediaInfo(
        format_name="mov,mp4", duration=63.2, width=1920, height=1080, frame_rate=30.0, video_codec="h264"
    )
    return Task(
        task_id=uuid.uuid4().hex,
        user_id=user_id,
        task_type=TYPES[n % len(TYPES)],
        status=STATUSES[n % len(STATUSES)],
        progress=100.0,
        attempts=1,
        created_at=created,
        submitted_at=created + timedelta(seconds=2),
        started_at=created + timedelta(seconds=3),
        completed_at=created + timedelta(seconds=60),
        original_filename=f"holiday-{n}.mp4",
        file_size=48_000_000,
        inputs=[InputFile(key=f"{user_id}/{n}/in.mp4", original_name=f"holiday-{n}.mp4", size=48_000_000, media=media)],
        config={"selected_frame": 12, "regions": [[10, 10, 200, 80], [1600, 980, 300, 90]]},
        result=ResultFile(key=f"{user_id}/{n}/out.mp4", size=47_000_000, content_type="video/mp4", media=media),
        fingerprint=uuid.uuid4().hex,
        hidden=n % 20 == 0,
    )


async def seed(store: Any, tasks: int, others: int, *, user_id: str = USER) -> float:
    """Insert the user's tasks interleaved with other users'; seconds per insert."""
    start = time.perf_counter()
    count = 0
    for n in range(tasks):
        await store.insert(task(user_id, n))
        count += 1
        if others and n % max(1, tasks // others) == 0:
            await store.insert(task(f"other-{n % 7}", n))
            count += 1
    return (time.perf_counter() - start) / count


async def timed_pair(
    baseline: Callable[[], Awaitable[Any]], subject: Callable[[], Awaitable[Any]], calls: int, warmup: int
) -> tuple[Timing, Timing]:
    """Latency percentiles of both calls, alternated so that both see the same cache and load."""
    for _ in range(warmup):
        await baseline()
        await subject()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(calls):
        for call, into in ((baseline, samples[0]), (subject, samples[1])):
            start = time.perf_counter()
            await call()
            into.append((time.perf_counter() - start) * 1000)
    return _timing(samples[0]), _timing(samples[1])


def _timing(samples: list[float]) -> Timing:
    samples.sort()
    return Timing(samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))])


def report(label: str, timing: Timing, baseline: Timing | None = None) -> None:
    line = f"  {label:<44} p50 {timing.p50_ms:8.3f} ms   p99 {timing.p99_ms:8.3f} ms"
    if baseline is not None:
        line += f"   x{timing.p50_ms / baseline.p50_ms:5.2f} of baseline p50"
    print(line, flush=True)


async def measure(
    store: Any,
    calls: int,
    raw_page: Callable[[], Awaitable[Any]],
    raw_count: Callable[[], Awaitable[Any]],
    *,
    warmup: int = 20,
) -> None:
    """Time the store's listing and counts against raw queries for the same rows."""
    page = await store.list_for_user(USER, limit=20)
    assert len(page.items) == 20 and page.next_cursor is not None
    # the cursor after the newest half of the visible tasks: a user scrolling far back
    deep = await store.list_for_user(USER, limit=sum((await store.count_by_status(USER)).values()) // 2)
    assert deep.next_cursor is not None

    async def first_page() -> Any:
        return await store.list_for_user(USER, limit=20)

    async def deep_page() -> Any:
        return await store.list_for_user(USER, limit=20, cursor=deep.next_cursor)

    async def counts() -> Any:
        return await store.count_by_status(USER)

    baseline, timing = await timed_pair(raw_page, first_page, calls, warmup)
    report("baseline: raw query for page 1 (no decoding)", baseline)
    report("list_for_user page 1 (limit 20)", timing, baseline)
    baseline, timing = await timed_pair(raw_page, deep_page, calls, warmup)
    report("baseline: raw query for page 1, again", baseline)
    report(f"list_for_user after {len(deep.items)} tasks (cursor)", timing, baseline)
    baseline, timing = await timed_pair(raw_count, counts, max(20, calls // 5), warmup)
    report("baseline: raw per-status count", baseline)
    report("count_by_status", timing, baseline)


async def bench_sqlite(tasks: int, others: int, calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        path = Path(folder) / "tasks.db"
        # Seeding skips the per-commit sync: reads do not depend on it, and 12,000 synced commits
        # would take most of a minute on a busy disk. Insert latency is measured apart, synced.
        seeder = SqliteStore(path, synchronous="NORMAL")
        await seeder.start()
        await seed(seeder, tasks, others)
        await seeder.close()
        store = SqliteStore(path)
        await store.start()
        raw = await aiosqlite.connect(path)
        try:
            per_insert = await seed(store, 200, 0, user_id="bench-insert-latency")
            print(f"SQLite (WAL, synchronous=FULL, {path.stat().st_size / 1e6:.1f} MB file)")
            print(f"  insert: {per_insert * 1000:.3f} ms per task (each one committed and synced)")

            async def raw_page() -> Any:
                return await raw.execute_fetchall(
                    "SELECT doc FROM tasks WHERE user_id = ? AND hidden = 0"
                    " ORDER BY created_at_us DESC, task_id DESC LIMIT 21",
                    (USER,),
                )

            async def raw_count() -> Any:
                return await raw.execute_fetchall(
                    "SELECT status, COUNT(*) FROM tasks WHERE user_id = ? AND hidden = 0 GROUP BY status", (USER,)
                )

            await measure(store, calls, raw_page, raw_count)
        finally:
            await raw.close()
            await store.close()


async def listing_p50(store: Any, calls: int) -> Timing:
    """What the list endpoint reads for page 1: the page and the per-status counts."""

    async def listing() -> Any:
        return await store.list_for_user(USER, limit=20), await store.count_by_status(USER)

    timing, _ = await timed_pair(listing, listing, calls, 20)
    return timing


async def bench_sqlite_scaling(tasks: int, calls: int, small: int = 1_000) -> None:
    """The list endpoint's reads at `small` tasks and at `tasks`: flat when the counts are kept."""
    timings = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        for size in (small, tasks):
            seeder = SqliteStore(Path(folder) / f"{size}.db", synchronous="NORMAL")
            await seeder.start()
            await seed(seeder, size, 0)
            await seeder.close()
            store = SqliteStore(Path(folder) / f"{size}.db")
            await store.start()
            try:
                timings[size] = await listing_p50(store, calls)
            finally:
                await store.close()
    print(f"SQLite listing (page 1 + per-status counts) as the user's tasks grow from {small} to {tasks}")
    for size, timing in timings.items():
        report(f"{size} tasks", timing)
    ratio = timings[tasks].p50_ms / timings[small].p50_ms
    print(f"  p50 at {tasks} / p50 at {small}: x{ratio:.2f} (target at most x1.5)")


async def bench_mongo(tasks: int, others: int, calls: int) -> None:
    choice = choose_backend()
    warmup = 20
    if not choice.is_real:
        # mongomock scans and copies every document in Python on each query (about 0.3 ms a
        # document): at full size one call takes seconds, so the fake gets a small data set.
        tasks, others, calls, warmup = min(tasks, 200), min(others, 40), min(calls, 5), 1
    with ExitStack() as stack:
        try:
            server = stack.enter_context(open_backend(choice))
        except RuntimeError as exc:
            print(f"MongoDB: skipped, {exc}")
            return
        database = f"mediacraft_bench_{uuid.uuid4().hex[:8]}"
        target = server.target(database)
        store = MongoStore(target.url, **target.store_kwargs())
        await store.start()
        try:
            per_insert = await seed(store, tasks, others)
            print(f"MongoDB via {choice.label}: {tasks} tasks for the user")
            if not choice.is_real:
                print("  (mongomock is a Python fake on a smaller set: these figures say nothing about MongoDB)")
            print(f"  insert: {per_insert * 1000:.3f} ms per task")
            collection = store._task_collection()
            sort = [("_us.created_at", -1), ("task_id", -1)]

            async def raw_page() -> Any:
                return await collection.find({"user_id": USER, "hidden": False}).sort(sort).limit(21).to_list(21)

            async def raw_count() -> Any:
                pipeline = [
                    {"$match": {"user_id": USER, "hidden": False}},
                    {"$group": {"_id": "$status", "n": {"$sum": 1}}},
                ]
                return await collection.aggregate(pipeline).to_list(None)

            await measure(store, calls, raw_page, raw_count, warmup=warmup)
        finally:
            await store.close()
            server.drop(database)


async def run(tasks: int, others: int, calls: int, scale: int) -> None:
    print(f"{tasks} tasks for one user, ~{others} for other users, {calls} timed calls per figure")
    for bench in (bench_sqlite, bench_mongo):
        started = time.perf_counter()
        await bench(tasks, others, calls)
        print(f"  ({time.perf_counter() - started:.1f} s)")
    if scale:
        started = time.perf_counter()
        await bench_sqlite_scaling(scale, calls)
        print(f"  ({time.perf_counter() - started:.1f} s)")


def main(argv: list[str] | None = None) -> None:
    """Run the store benchmark and print latencies and ratios to the raw-query baselines."""
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks of the measured user")
    parser.add_argument("--others", type=int, default=2_000, help="tasks of other users, interleaved")
    parser.add_argument("--calls", type=int, default=500, help="timed calls per figure")
    parser.add_argument(
        "--scale", type=int, default=100_000, help="the listing at this many tasks against 1,000 (0: skip)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    asyncio.run(run(args.tasks, args.others, args.calls, args.scale))
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
