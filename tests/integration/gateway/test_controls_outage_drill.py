"""Drill: a cancel and a retry sent through the gateway's HTTP API while the broker is down.

On the private broker node (`tests.fixtures.drill_broker`), every part real but the workers: the
gateway app served over HTTP (uvicorn in this loop, driven by httpx), the scheduler as its own
process, the fake worker pool (`tests.fixtures.fake_workers`), all over RabbitBus on the drill
vhost and one SQLite store; the per-user quota is 1.

Four tasks of three users:
- alice: X running (held by its worker) and A queued behind it (the per-user quota);
- bob: B running (held by its worker);
- carol: C failed for good (a non-retryable failure; a second attempt would succeed).

The broker app stops. Alice cancels A, bob cancels B and carol retries C through HTTP: each answer
must be 202 within a few seconds (the gateway's publish timeout, 3 s) with `data.notice` saying the
request is recorded, and the request must be recorded on the task (`control`) while nothing else
changes. The outage lasts OUTAGE seconds (MEDIACRAFT_DRILL_OUTAGE_SECONDS, default 8; `make
drills` runs 60), then the broker starts again. As soon as the scheduler has taken over again,
X is released: its end frees alice's slot before the scheduler's reconcile (every 5 s here, 30 s
by default) carries out the lost controls, so the dispatch must itself see that A was cancelled.

Then, within a deadline: A and B end `cancelled` and C is queued again with a new attempt, which
runs and completes. A never reached a worker, B's worker never reported a success, neither ever
showed `completed` (every task.status_changed event is watched), and no user ever had two tasks
running (store sampler and worker side). The figures: each answer's status and seconds, and the
seconds from the broker's start (its `start_app`) until each control took effect.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.gateway.app import create_app
from mediacraft.gateway.identity_client import InProcessIdentityClient
from mediacraft.identity.service import IdentityService
from mediacraft.shared.adapters.bus.rabbitmq import RabbitBus
from mediacraft.shared.adapters.objects.local import LocalObjectStore
from mediacraft.shared.clock import SystemClock
from mediacraft.shared.messages import TaskStatusChanged
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import ControlKind, Task, TaskStatus
from mediacraft.shared.topology import EVENTS
from tests.fixtures.drill_broker import DrillBroker
from tests.fixtures.fake_workers import behaviour
from tests.fixtures.waiting import eventually
from tests.integration.gateway.client import data, user_id_of
from tests.integration.gateway.harness import gateway_settings, serve_app
from tests.integration.scheduler.harness import Harness, StoreSampler, make_harness
from tests.integration.scheduler.processes import Process, settings_env, start_scheduler

pytestmark = [pytest.mark.slow, pytest.mark.drill]

OUTAGE_SECONDS = float(os.environ.get("MEDIACRAFT_DRILL_OUTAGE_SECONDS", "8"))
ANSWER_BOUND_SECONDS = 6.0  # "a few seconds": the gateway's 3 s publish timeout and some slack
SETTINGS: dict[str, Any] = {
    "quota_per_user": 1,
    "quota_global": 3,
    "lease_seconds": 10.0,  # heartbeats resume within a second or two of the broker's return
    "reconcile_seconds": 5.0,
}
EFFECT_DEADLINE = 60.0  # after the broker's start: reconnects, a takeover and a reconcile or two


@pytest.fixture
async def harness(tmp_path: Path, drill_vhost_url: str) -> AsyncIterator[Harness]:
    h = await make_harness(tmp_path, "rabbit", url=drill_vhost_url, **SETTINGS)
    yield h
    await h.close()


@pytest.fixture
async def gateway_url(tmp_path: Path, harness: Harness, drill_vhost_url: str) -> AsyncIterator[str]:
    """The gateway app on its own RabbitBus connection and the harness's store, served over HTTP."""
    clock = SystemClock()
    bus = RabbitBus(drill_vhost_url, topology=harness.buses.topology, close_grace=1.0)
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    await bus.start()
    await objects.start()
    identity = InProcessIdentityClient(IdentityService(users=harness.store, tasks=harness.store, bus=bus, clock=clock))
    app = create_app(
        gateway_settings(tmp_path), store=harness.store, objects=objects, bus=bus, identity=identity, clock=clock
    )
    try:
        async with serve_app(app) as url:
            yield url
    finally:
        await identity.close()
        await bus.close()
        await objects.close()


async def timed_post(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.post(path)
    return response, loop.time() - started


async def test_cancels_and_a_retry_sent_during_a_broker_outage_are_answered_at_once_and_carried_out(
    harness: Harness,
    gateway_url: str,
    drill_vhost_url: str,
    drill_broker: DrillBroker,
    processes: list[Process],
    tmp_path: Path,
    drill_record: Callable[[str, Any], None],
) -> None:
    env = settings_env(harness.settings, bus_url=drill_vhost_url, store_url=f"sqlite:///{harness.store.path}")
    scheduler = start_scheduler("scheduler", env, tmp_path)
    processes.append(scheduler)
    await scheduler.wait_for('"takeover": true')
    pool = await harness.start_workers(concurrency=10, heartbeat_seconds=0.3)
    seen: dict[str, list[TaskStatus]] = defaultdict(list)

    async def watch(incoming: Incoming) -> None:
        event = incoming.envelope.open()
        if isinstance(event, TaskStatusChanged):
            seen[event.task_id].append(event.status)

    await harness.client.consume(
        await harness.client.declare_private_queue([(EVENTS, "task.status_changed")]), watch, prefetch=100
    )
    clients = {name: httpx.AsyncClient(base_url=gateway_url, timeout=30.0) for name in ("alice", "bob", "carol")}
    try:
        users = {name: await user_id_of(client) for name, client in clients.items()}

        async def submitted(user: str, spec: dict[str, Any]) -> str:
            """A queued task of this user (an id the HTTP API accepts), its SubmitTask sent."""
            return await harness.add_task(users[user], spec, task_id=str(uuid.uuid4()))

        async with StoreSampler(harness) as sampler:
            x = await submitted("alice", behaviour("wait"))
            await harness.wait_status(x, TaskStatus.PROCESSING)
            a = await submitted("alice", behaviour("noop"))  # would complete at once if it ever started
            b = await submitted("bob", behaviour("wait"))
            c = await submitted("carol", behaviour("fail", retryable=False, times=1))
            await harness.wait_status(c, TaskStatus.FAILED, timeout=20)
            await pool.wait_until(lambda: bool(pool.started(x)) and bool(pool.started(b)), timeout=20)
            assert (await harness.task(a)).status is TaskStatus.QUEUED

            loop = asyncio.get_running_loop()
            await asyncio.to_thread(drill_broker.stop_app)
            down = loop.time()
            answers = {
                "cancel queued": await timed_post(clients["alice"], f"/api/tasks/{a}/cancel"),
                "cancel running": await timed_post(clients["bob"], f"/api/tasks/{b}/cancel"),
                "retry failed": await timed_post(clients["carol"], f"/api/tasks/{c}/retry"),
            }
            for name, (response, took) in answers.items():
                drill_record(f"{name}: answer (s)", took)
                drill_record(f"{name}: status", response.status_code)
            for name, (response, took) in answers.items():
                assert response.status_code == 202, (name, response.text)
                notice = data(response)["notice"]
                assert notice and "recorded" in notice, (name, notice)
                assert took < ANSWER_BOUND_SECONDS, (name, took)
            # recorded on the tasks, and nothing else changed: the outcome is the scheduler's to write
            recorded = [await harness.task(t) for t in (a, b, c)]
            assert [(t.status, t.control.kind if t.control else None) for t in recorded] == [
                (TaskStatus.QUEUED, ControlKind.CANCEL),
                (TaskStatus.PROCESSING, ControlKind.CANCEL),
                (TaskStatus.FAILED, ControlKind.RETRY),
            ]

            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (loop.time() - down)))  # the outage itself
            drill_record("outage (s)", loop.time() - down)
            back = loop.time()
            await asyncio.to_thread(drill_broker.start_app)
            drill_record("broker start (s)", loop.time() - back)
            await scheduler.wait_for('"takeover": true', count=2, timeout=EFFECT_DEADLINE)
            pool.release(x)  # frees alice's slot, most likely before the reconcile finds A's cancel

            effect: dict[str, float] = {}

            async def took_effect() -> bool:
                tasks = {t: await harness.task(t) for t in (a, b, c)}
                done = {
                    "cancel queued": tasks[a].status is TaskStatus.CANCELLED,
                    "cancel running": tasks[b].status is TaskStatus.CANCELLED,
                    "retry failed": retried(tasks[c]),
                }
                for name, happened in done.items():
                    if happened:
                        effect.setdefault(name, loop.time() - back)
                return all(done.values())

            await eventually(took_effect, timeout=EFFECT_DEADLINE, interval=0.05, what="A, B cancelled and C retried")
            for name, seconds in effect.items():
                drill_record(f"{name}: in effect after broker start (s)", seconds)
            pool.release(b)  # a held job that was not stopped would now succeed
            finished = await harness.wait_terminal([x, a, b, c], timeout=EFFECT_DEADLINE)
        drill_record("peak per user", sampler.peak_per_user)
    finally:
        for client in clients.values():
            await client.aclose()

    assert [t.status for t in finished] == [
        TaskStatus.COMPLETED,
        TaskStatus.CANCELLED,
        TaskStatus.CANCELLED,
        TaskStatus.COMPLETED,
    ]
    assert all(t.control is None for t in finished)
    assert pool.started(a) == []  # a queued task cancelled never starts
    assert [r.outcome for r in pool.started(b)] == ["job.cancelled"]
    carol = finished[3]
    assert carol.attempts == 2 and carol.retry_count == 0 and carol.error is None
    assert [(r.attempt, r.outcome) for r in pool.started(c)] == [(1, "job.failed"), (2, "job.succeeded")]
    assert TaskStatus.COMPLETED not in seen[a] + seen[b], (seen[a], seen[b])
    assert sampler.peak_per_user <= 1 and pool.peak.per_user <= 1
    assert scheduler.popen.poll() is None  # it rode the outage out


def retried(task: Task) -> bool:
    """The retry took effect: a new series of attempts queued or under way, the request cleared."""
    restarted = task.status in (TaskStatus.QUEUED, TaskStatus.PROCESSING) and task.control is None
    return (restarted and task.error is None) or (task.status is TaskStatus.COMPLETED and task.attempts == 2)
