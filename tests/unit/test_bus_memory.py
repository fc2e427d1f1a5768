"""The memory bus: the bus contract on a FakeClock, plus what only the embedded bus promises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from mediacraft.shared.adapters.bus.memory import MemoryBroker, MemoryBus
from mediacraft.shared.adapters.bus.routing import headers_match, redeliver_arguments, topic_matches
from mediacraft.shared.adapters.factory import make_bus
from mediacraft.shared.clock import FakeClock, SystemClock
from mediacraft.shared.errors import RetryableError
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.topology import JOBS, TARGET_HEADER, Topology, build_topology
from tests.contracts.bus import JOB_QUEUE, POOL, TOPOLOGY, BusContract, Inbox, number, probe


class MemoryHarness:
    """Buses on one MemoryBroker whose delays run on a FakeClock."""

    def __init__(self, broker: MemoryBroker, clock: FakeClock) -> None:
        self.broker = broker
        self.clock = clock
        self.buses: list[MemoryBus] = []

    def new_bus(self, topology: Topology) -> MemoryBus:
        bus = MemoryBus(topology=topology, clock=self.clock, broker=self.broker)
        self.buses.append(bus)
        return bus

    def now(self) -> float:
        return self.clock.now().timestamp()

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)

    async def quiet(self) -> None:
        await self.broker.drain()


@pytest.fixture
async def memory_harness() -> AsyncIterator[MemoryHarness]:
    clock = FakeClock()
    broker = MemoryBroker(clock)
    yield MemoryHarness(broker, clock)
    await broker.close()


class TestMemoryBusContract(BusContract):
    @pytest.fixture
    def harness(self, memory_harness: MemoryHarness) -> MemoryHarness:
        return memory_harness


# --- beyond the contract: what the embedded bus promises ------------------------------------------


async def test_drain_returns_while_a_message_waits_in_a_delay_queue(memory_harness: MemoryHarness) -> None:
    bus = memory_harness.new_bus(TOPOLOGY)
    await bus.start()
    deliveries = Inbox()

    async def retry_once(incoming: Incoming) -> None:
        await deliveries(incoming)
        if incoming.retries == 0:
            raise RetryableError("storage timeout")  # no wish: the shortest step, 200 ms

    await bus.consume(JOB_QUEUE, retry_once)
    await bus.publish(JOBS, POOL, probe(1))
    await bus.drain(timeout=1)  # returns although a copy sits in retry.200
    assert len(deliveries.seen) == 1

    await memory_harness.advance(0.2)
    await bus.drain(timeout=1)
    assert [d.retries for d in deliveries.seen] == [0, 1]
    await bus.close()


async def test_drain_times_out_while_a_handler_is_stuck(memory_harness: MemoryHarness) -> None:
    bus = memory_harness.new_bus(TOPOLOGY)
    await bus.start()
    never = asyncio.Event()

    async def stuck(_: Incoming) -> None:
        await never.wait()

    await bus.consume(JOB_QUEUE, stuck)
    await bus.publish(JOBS, POOL, probe(1))
    with pytest.raises(TimeoutError):
        await bus.drain(timeout=0.05)
    bus.close_grace = 0
    await bus.close()


async def test_runs_on_the_system_clock_and_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    topology = build_topology(retry_delays_ms=(30, 60), delivery_limit=2)
    bus = make_bus("memory://", topology=topology)  # the single-process mode's bus: real clock
    assert isinstance(bus, MemoryBus) and isinstance(bus.broker.clock, SystemClock)
    await bus.start()
    deliveries = Inbox()
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def retry_once(incoming: Incoming) -> None:
        times.append(loop.time())
        await deliveries(incoming)
        if incoming.retries == 0:
            raise RetryableError("backend down", delay=0.01)

    await bus.consume(JOB_QUEUE, retry_once)
    await bus.publish(JOBS, POOL, probe(1))
    await deliveries.next()
    back = await deliveries.next()
    assert back.retries == 1 and times[1] - times[0] >= 0.03

    await bus.publish(JOBS, POOL, probe(2))  # one more retry pending in a delay queue at close
    await bus.close()
    assert asyncio.all_tasks() == before


async def test_closing_a_bus_puts_its_unfinished_messages_back(memory_harness: MemoryHarness) -> None:
    leaving, staying = memory_harness.new_bus(TOPOLOGY), memory_harness.new_bus(TOPOLOGY)
    for bus in (leaving, staying):
        await bus.start()
    leaving.close_grace = 0  # its handler is cut off at once
    started, never = asyncio.Event(), asyncio.Event()

    async def hangs(_: Incoming) -> None:
        started.set()
        await never.wait()

    await leaving.consume(JOB_QUEUE, hangs)
    await leaving.publish(JOBS, POOL, probe(5))
    await asyncio.wait_for(started.wait(), 5)
    await leaving.close()

    got = Inbox()
    await staying.consume(JOB_QUEUE, got)
    back = await got.next()
    assert number(back) == 5 and back.redelivered
    await staying.close()


async def test_a_shared_broker_refuses_a_bus_with_another_clock() -> None:
    broker = MemoryBroker(FakeClock())
    with pytest.raises(ValueError):
        MemoryBus(topology=TOPOLOGY, clock=FakeClock(), broker=broker)
    assert MemoryBus(topology=TOPOLOGY, broker=broker).broker is broker


async def test_dead_lettering_keeps_rabbitmq_x_death_bookkeeping(memory_harness: MemoryHarness) -> None:
    bus = memory_harness.new_bus(TOPOLOGY)
    await bus.start()
    dead = Inbox()

    async def crashes(_: Incoming) -> None:
        raise RuntimeError("boom")

    await bus.consume("dead.letters", dead)
    await bus.consume(JOB_QUEUE, crashes)
    await bus.publish(JOBS, POOL, probe(1))
    parked = await dead.next()
    death = parked.headers["x-death"][0]
    assert (death["reason"], death["queue"], death["count"], death["routing-keys"]) == (
        "delivery_limit",
        JOB_QUEUE,
        1,
        [POOL],
    )
    assert isinstance(death["time"], datetime)
    assert "x-delivery-count" not in parked.headers  # RabbitMQ drops it on dead-lettering
    await bus.close()


# --- routing rules (RabbitMQ's, which the memory bus applies) -------------------------------------


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("task.*", "task.created", True),
        ("task.*", "task.a.b", False),
        ("task.*", "task", False),
        ("task.#", "task", True),
        ("task.#", "task.a.b", True),
        ("#", "anything.at.all", True),
        ("*.started", "job.started", True),
        ("job.*.done", "job.x.done", True),
        ("job.#.done", "job.done", True),
        ("job.#.done", "job.a.b.done", True),
        ("job.#.done", "job.a.b", False),
    ],
)
def test_topic_patterns(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def test_headers_match_ignores_x_arguments_unless_asked_to_compare_them() -> None:
    # RabbitMQ's rule, and why the redeliver binding uses all-with-x
    mine, other = {TARGET_HEADER: "jobs.merge"}, {TARGET_HEADER: "jobs.watermark"}
    plain_all = {"x-match": "all", TARGET_HEADER: "jobs.merge"}
    assert headers_match(plain_all, other)
    assert headers_match(redeliver_arguments("jobs.merge"), mine)
    assert not headers_match(redeliver_arguments("jobs.merge"), other)
    assert headers_match({"x-match": "any", "a": 1, "b": 2}, {"b": 2})
    assert not headers_match({"x-match": "all", "a": 1, "b": 2}, {"b": 2})


async def test_factory_builds_a_memory_bus_with_the_given_clock() -> None:
    clock = FakeClock()
    bus: Any = make_bus("memory://", topology=TOPOLOGY, clock=clock)
    assert isinstance(bus, MemoryBus) and bus.broker.clock is clock


def test_the_delivery_limit_is_the_number_of_deliveries_and_rabbitmq_gets_the_redeliveries() -> None:
    # RabbitMQ's x-delivery-limit counts redeliveries: five deliveries allow four of them
    spec = build_topology(retry_delays_ms=(30,), delivery_limit=5).queue(JOB_QUEUE)
    assert spec.delivery_limit == 5
    assert spec.arguments()["x-delivery-limit"] == 4
    assert build_topology(delivery_limit=1).queue(JOB_QUEUE).arguments()["x-delivery-limit"] == 0
