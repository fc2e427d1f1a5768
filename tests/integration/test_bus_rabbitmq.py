"""The RabbitMQ bus: the bus contract on a real broker, plus outages and re-declaration.

Every test gets a vhost of its own (the topology's queue names are fixed); outages are made with
`rabbitmqctl close_all_connections` on that vhost only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import structlog

from mediacraft.shared.adapters.bus.rabbitmq import RabbitBus
from mediacraft.shared.adapters.factory import make_bus
from mediacraft.shared.ports.bus import BusUnavailable, Incoming, Unroutable
from mediacraft.shared.topology import JOBS, Topology
from tests.contracts.bus import JOB_QUEUE, POOL, TOPOLOGY, WAIT, BusContract, Inbox, number, number_of, probe
from tests.fixtures.rabbit import RabbitServer, RabbitVhost


class RabbitHarness:
    """Buses on the test's own vhost; delays run in real time."""

    def __init__(self, url: str) -> None:
        self.url = url

    def new_bus(self, topology: Topology) -> RabbitBus:
        return RabbitBus(self.url, topology=topology, reconnect_interval=0.2, publish_timeout=15, close_grace=5)

    def now(self) -> float:
        return time.monotonic()

    async def advance(self, seconds: float) -> None:
        return None  # real time passes by itself

    async def quiet(self) -> None:
        return None


class TestRabbitBusContract(BusContract):
    @pytest.fixture
    def harness(self, rabbit_vhost_url: str) -> RabbitHarness:
        return RabbitHarness(rabbit_vhost_url)


@pytest.fixture
async def rabbit_bus(rabbit_vhost: RabbitVhost) -> AsyncIterator[RabbitBus]:
    bus = RabbitHarness(rabbit_vhost.url).new_bus(TOPOLOGY)
    await bus.start()
    yield bus
    await bus.close()


async def test_the_factory_builds_a_rabbit_bus(rabbit_vhost_url: str) -> None:
    bus = make_bus(rabbit_vhost_url, topology=TOPOLOGY, reconnect_interval=0.2)
    assert isinstance(bus, RabbitBus)
    await bus.start()
    try:
        assert await bus.ping()
    finally:
        await bus.close()


async def test_declaring_the_topology_twice_is_idempotent(rabbit_vhost: RabbitVhost) -> None:
    first = RabbitHarness(rabbit_vhost.url).new_bus(TOPOLOGY)
    second = RabbitHarness(rabbit_vhost.url).new_bus(TOPOLOGY)
    await first.start()
    try:
        await first.publish(JOBS, POOL, probe(1))
        await second.start()  # a second service declaring the same topology
        await first.start()  # and the same one again
        taken = await second.get(JOB_QUEUE)
        assert taken is not None and number_of(taken) == 1  # nothing purged or replaced
        inbox = Inbox()
        await second.consume(JOB_QUEUE, inbox)
        await first.publish(JOBS, POOL, probe(2))
        assert number(await inbox.next()) == 2
    finally:
        await second.close()
        await first.close()


async def test_a_publish_to_a_missing_exchange_does_not_fail_the_others_in_flight(rabbit_bus: RabbitBus) -> None:
    # the broker answers a missing exchange by closing the whole publisher channel
    good = [rabbit_bus.publish(JOBS, POOL, probe(n)) for n in range(50)]
    bad = rabbit_bus.publish("mediacraft.no-such-exchange", "x", probe(99))
    results = await asyncio.gather(bad, *good, return_exceptions=True)
    assert isinstance(results[0], Unroutable)
    assert [r for r in results[1:] if r is not None] == []
    inbox = Inbox()
    await rabbit_bus.consume(JOB_QUEUE, inbox)
    assert sorted([number(await inbox.next()) for _ in range(50)]) == list(range(50))


@pytest.mark.slow
async def test_confirmed_publishes_survive_a_broker_side_disconnect(
    rabbit_server: RabbitServer, rabbit_vhost: RabbitVhost, rabbit_bus: RabbitBus
) -> None:
    received: set[int] = set()
    all_in = asyncio.Event()
    confirmed: list[int] = []
    expected: set[int] | None = None

    async def collect(incoming: Incoming) -> None:
        received.add(number(incoming))
        if expected is not None and expected <= received:
            all_in.set()

    await rabbit_bus.consume(JOB_QUEUE, collect, prefetch=20)
    outage = asyncio.ensure_future(asyncio.to_thread(rabbit_server.close_connections, rabbit_vhost.name))
    after_reconnect = 0
    deadline = time.monotonic() + 60
    # publish a numbered series, 20 in flight at a time, across the outage and on until 100 more
    # are confirmed after the reconnect
    for start in range(1, 50_000, 20):
        batch = range(start, start + 20)
        results = await asyncio.gather(
            *(rabbit_bus.publish(JOBS, POOL, probe(n)) for n in batch), return_exceptions=True
        )
        assert not [r for r in results if r is not None], "a publish failed instead of waiting"
        confirmed.extend(batch)
        if outage.done() and rabbit_bus.reconnects:
            after_reconnect += len(batch)
            if after_reconnect >= 100:
                break
        assert time.monotonic() < deadline, "the outage never ended"
    await outage

    expected = set(confirmed)
    progress = -1
    # the consumer may trail the publisher by thousands on a busy machine: wait while it moves on
    while not expected <= received and len(received) > progress:
        progress = len(received)
        try:
            await asyncio.wait_for(all_in.wait(), WAIT)
        except TimeoutError:
            pass  # reported below with what is missing
    assert rabbit_bus.reconnects >= 1
    assert expected <= received, f"lost {sorted(expected - received)[:10]}"


@pytest.mark.slow
async def test_a_handler_that_outlives_its_channel_gets_the_message_again(
    rabbit_server: RabbitServer, rabbit_vhost: RabbitVhost, rabbit_bus: RabbitBus
) -> None:
    deliveries = Inbox()
    release, first_done = asyncio.Event(), asyncio.Event()

    async def slow_first_time(incoming: Incoming) -> None:
        await deliveries(incoming)
        if not incoming.redelivered:
            await release.wait()
            first_done.set()

    await rabbit_bus.consume(JOB_QUEUE, slow_first_time)
    await rabbit_bus.publish(JOBS, POOL, probe(7))
    first = await deliveries.next()
    assert not first.redelivered

    with structlog.testing.capture_logs() as logs:
        await asyncio.to_thread(rabbit_server.close_connections, rabbit_vhost.name)
        second = await deliveries.next(timeout=20)  # the restored consumer gets it again
        assert second.redelivered and second.envelope.message_id == first.envelope.message_id
        release.set()  # the first handler returns now and settles on its closed channel
        await asyncio.wait_for(first_done.wait(), WAIT)
        await rabbit_bus.publish(JOBS, POOL, probe(8))
        assert number(await deliveries.next()) == 8
    assert any(e["event"] in ("bus.ack_lost", "bus.delivery_channel_closed") for e in logs)
    assert await rabbit_bus.ping()


@pytest.mark.slow
async def test_publish_waits_for_the_broker_then_gives_up_after_its_timeout(
    rabbit_server: RabbitServer, rabbit_vhost: RabbitVhost, rabbit_bus: RabbitBus
) -> None:
    await asyncio.to_thread(
        rabbit_server.ctl, "set_vhost_limits", "--vhost", rabbit_vhost.name, '{"max-connections": 0}'
    )
    await asyncio.to_thread(rabbit_server.close_connections, rabbit_vhost.name)

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BusUnavailable, match=r"within 1\.0s"):
        await rabbit_bus.publish(JOBS, POOL, probe(0), timeout=1.0)  # a caller's bound, below the bus's own
    assert loop.time() - started < 3
    rabbit_bus.publish_timeout = 1.0
    with pytest.raises(BusUnavailable):
        await rabbit_bus.publish(JOBS, POOL, probe(1))
    assert not await rabbit_bus.ping()

    rabbit_bus.publish_timeout = 30
    waiting = asyncio.ensure_future(rabbit_bus.publish(JOBS, POOL, probe(2)))
    await asyncio.to_thread(rabbit_server.ctl, "clear_vhost_limits", "--vhost", rabbit_vhost.name)
    await asyncio.wait_for(waiting, 30)  # returned: confirmed once the bus was back
    inbox = Inbox()
    await rabbit_bus.consume(JOB_QUEUE, inbox)
    assert number(await inbox.next()) == 2
