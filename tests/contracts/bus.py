"""The bus contract: the same tests for every bus adapter.

A test module subclasses `BusContract` and overrides only the `harness` fixture, which makes buses
on that module's broker and says how time passes there (a FakeClock for the memory bus, real time
for RabbitMQ). The topology uses short delay steps and a small delivery limit so that retries and
parking happen within a test. Nothing here sleeps to wait: deliveries arrive in an `Inbox` read with
a deadline, and dead letters without an envelope are polled with a deadline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import pytest

from mediacraft.shared.adapters.bus.raw import QueueDepth
from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.messages import CancelJob, JobStarted, ProbeMessage, SubmitTask, UserCreated
from mediacraft.shared.messages.envelope import Envelope
from mediacraft.shared.ports.bus import Incoming, Release, Unroutable
from mediacraft.shared.tasks import TaskType
from mediacraft.shared.topology import (
    COMMANDS,
    CONTROL,
    DEAD_LETTERS,
    EVENTS,
    IDENTITY_INBOX,
    JOBS,
    REASON_HEADER,
    RETRIES_HEADER,
    SCHEDULER_INBOX,
    SCHEDULER_KEY,
    TARGET_HEADER,
    Topology,
    build_topology,
    job_queue,
)
from tests.fixtures.waiting import eventually

# a W3C traceparent as the gateway writes it: version, trace id, parent span id, flags
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
DELAYS_MS = (200, 500)
DELIVERY_LIMIT = 2
TOPOLOGY = build_topology(retry_delays_ms=DELAYS_MS, delivery_limit=DELIVERY_LIMIT)
WAIT = 15.0  # upper bound for anything to arrive, generous for a busy machine; a pass takes far less

POOL = "merge"
JOB_QUEUE = job_queue(POOL)


class BusHarness(Protocol):
    def new_bus(self, topology: Topology) -> Any:
        """A bus on the test's broker, not started yet."""

    def now(self) -> float:
        """Seconds on the clock that the bus's delays run on."""

    async def advance(self, seconds: float) -> None:
        """Let `seconds` pass on that clock: a fake clock moves, real time needs nothing."""

    async def quiet(self) -> None:
        """Wait until nothing is in flight where the adapter can tell (memory: drain)."""


class Inbox:
    """A handler that records deliveries; `next()` waits for one with a deadline."""

    def __init__(self, harness: BusHarness | None = None) -> None:
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self._harness = harness
        self.seen: list[Incoming] = []
        self.times: list[float] = []

    async def __call__(self, incoming: Incoming) -> None:
        self.seen.append(incoming)
        self.times.append(self._harness.now() if self._harness else 0.0)
        self._queue.put_nowait(incoming)

    async def next(self, timeout: float = WAIT) -> Incoming:
        return await asyncio.wait_for(self._queue.get(), timeout)

    def empty(self) -> bool:
        return self._queue.empty()


def probe(n: int = 0, text: str = "") -> Envelope:
    return Envelope.wrap(ProbeMessage(n=n, text=text), correlation_id=f"task-{n}")


def number(incoming: Incoming) -> int:
    message = incoming.envelope.open()
    assert isinstance(message, ProbeMessage)
    return message.n


def number_of(raw: Any) -> int:
    message = raw.envelope().open()
    assert isinstance(message, ProbeMessage)
    return message.n


class BusContract:
    """Abstract contract tests; subclasses override the `harness` fixture only."""

    @pytest.fixture
    def harness(self) -> BusHarness:
        raise NotImplementedError("a bus contract test module provides the harness fixture")

    @pytest.fixture
    async def open_bus(self, harness: BusHarness) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
        opened: list[Any] = []

        async def open_() -> Any:
            bus = harness.new_bus(TOPOLOGY)
            opened.append(bus)
            await bus.start()
            return bus

        yield open_
        for bus in reversed(opened):
            await bus.close()

    @pytest.fixture
    async def bus(self, open_bus: Callable[[], Awaitable[Any]]) -> Any:
        return await open_bus()

    # --- publish and consume --------------------------------------------------------------------

    async def test_a_published_envelope_reaches_its_consumer_intact(self, bus: Any) -> None:
        inbox = Inbox()
        await bus.consume(SCHEDULER_INBOX, inbox)
        message = SubmitTask(task_id="t-1", user_id="u-1", task_type=TaskType.VIDEO_MERGE)
        envelope = Envelope.wrap(message, correlation_id="t-1")

        await bus.publish(COMMANDS, SCHEDULER_KEY, envelope, headers={"x-mc-trace": "abc"})

        got = await inbox.next()
        assert got.envelope == envelope
        assert got.envelope.open() == message
        assert (got.queue, got.exchange, got.routing_key) == (SCHEDULER_INBOX, COMMANDS, SCHEDULER_KEY)
        assert (got.redelivered, got.delivery_count, got.retries) == (False, 0, 0)
        assert got.headers["x-mc-trace"] == "abc"

    # --- trace context -------------------------------------------------------------------------

    async def test_the_trace_context_travels_in_the_envelope(self, bus: Any) -> None:
        inbox = Inbox()
        await bus.consume(SCHEDULER_INBOX, inbox)
        traced = Envelope.wrap(ProbeMessage(n=1), correlation_id="task-1", traceparent=TRACEPARENT)
        untraced = probe(2)

        await bus.publish(COMMANDS, SCHEDULER_KEY, traced)
        await bus.publish(COMMANDS, SCHEDULER_KEY, untraced)

        got = {number(incoming): incoming.envelope for incoming in [await inbox.next(), await inbox.next()]}
        assert got[1].traceparent == TRACEPARENT and got[1] == traced
        assert got[2].traceparent is None and got[2] == untraced

    async def test_an_envelope_from_before_the_trace_field_is_delivered_without_one(self, bus: Any) -> None:
        inbox = Inbox()
        await bus.consume(SCHEDULER_INBOX, inbox)
        body = probe(3).model_dump(mode="json")
        del body["traceparent"]  # as a publisher that predates the field writes it

        await bus.publish_raw(COMMANDS, SCHEDULER_KEY, json.dumps(body).encode())

        got = await inbox.next()
        assert number(got) == 3 and got.envelope.traceparent is None

    async def test_the_trace_context_comes_back_with_a_retried_message(self, bus: Any, harness: BusHarness) -> None:
        deliveries = Inbox(harness)

        async def backend_down_once(incoming: Incoming) -> None:
            await deliveries(incoming)
            if incoming.retries == 0:
                raise RetryableError("generation backend down", delay=0.1)

        await bus.consume(JOB_QUEUE, backend_down_once)
        await bus.publish(JOBS, POOL, Envelope.wrap(ProbeMessage(n=4), traceparent=TRACEPARENT))
        assert (await deliveries.next()).envelope.traceparent == TRACEPARENT
        await harness.advance(0.25)

        again = await deliveries.next()
        assert again.retries == 1 and again.envelope.traceparent == TRACEPARENT

    async def test_a_returned_publish_is_already_in_its_queue(self, bus: Any) -> None:
        envelopes = [probe(n) for n in range(20)]

        await asyncio.gather(*(bus.publish(JOBS, POOL, e) for e in envelopes))

        # taken straight away, no waiting: publish returned only once the broker had them
        taken = [await bus.get(JOB_QUEUE) for _ in envelopes]
        assert all(t is not None for t in taken)
        assert sorted(t.envelope().message_id for t in taken) == sorted(e.message_id for e in envelopes)
        assert await bus.get(JOB_QUEUE) is None

    async def test_an_unroutable_publish_raises_and_the_bus_keeps_working(self, bus: Any) -> None:
        with pytest.raises(Unroutable):
            await bus.publish(EVENTS, "nobody.listens", probe(1))
        with pytest.raises(Unroutable):
            await bus.publish(JOBS, "no-such-pool", probe(2))
        with pytest.raises(Unroutable):
            await bus.publish("mediacraft.no-such-exchange", "x", probe(3))
        await bus.publish(EVENTS, "nobody.listens", probe(4), mandatory=False)  # dropped quietly

        inbox = Inbox()
        await bus.consume(JOB_QUEUE, inbox)
        await bus.publish(JOBS, POOL, probe(5))
        assert number(await inbox.next()) == 5

    async def test_prefetch_bounds_the_deliveries_in_flight(self, bus: Any) -> None:
        running, peak, finished = 0, 0, Inbox()
        two_running, release = asyncio.Event(), asyncio.Event()

        async def slow(incoming: Incoming) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            if running == 2:
                two_running.set()
            await release.wait()
            running -= 1
            await finished(incoming)

        await bus.consume(JOB_QUEUE, slow, prefetch=2)
        for n in range(5):
            await bus.publish(JOBS, POOL, probe(n))
        await asyncio.wait_for(two_running.wait(), WAIT)
        for _ in range(3):  # round trips to the broker: time for a third delivery to show up if allowed
            assert await bus.ping()
        assert running == 2

        release.set()
        assert sorted([number(await finished.next()) for _ in range(5)]) == [0, 1, 2, 3, 4]
        assert peak == 2

    async def test_starting_again_changes_nothing(self, bus: Any) -> None:
        await bus.publish(JOBS, POOL, probe(1))
        await bus.start()
        taken = await bus.get(JOB_QUEUE)
        assert taken is not None and number_of(taken) == 1
        assert await bus.ping()

    async def test_ping_answers_while_open_only(self, open_bus: Callable[[], Awaitable[Any]]) -> None:
        bus = await open_bus()
        assert await bus.ping()
        await bus.close()
        assert not await bus.ping()

    async def test_get_is_refused_on_a_single_active_consumer_queue(self, bus: Any) -> None:
        with pytest.raises(ValueError):
            await bus.get(SCHEDULER_INBOX)

    async def test_queue_depth_counts_the_messages_waiting_and_the_consumers(self, bus: Any) -> None:
        assert await bus.queue_depth(JOB_QUEUE) == QueueDepth(ready=0, consumers=0)
        for n in range(3):
            await bus.publish(JOBS, POOL, probe(n))

        async def three_waiting() -> bool:
            return await bus.queue_depth(JOB_QUEUE) == QueueDepth(ready=3, consumers=0)

        await eventually(three_waiting, what="three messages counted")
        await bus.consume(job_queue("watermark"), Inbox())

        async def one_consumer() -> bool:
            return (await bus.queue_depth(job_queue("watermark"))).consumers == 1

        await eventually(one_consumer, what="the consumer counted")
        assert await bus.queue_depth(SCHEDULER_INBOX) is not None  # single-active-consumer queues too
        with pytest.raises(ValueError):
            await bus.queue_depth("jobs.no-such-pool")

    async def test_consuming_a_queue_that_does_not_exist_is_refused(self, bus: Any) -> None:
        with pytest.raises(ValueError):
            await bus.consume("jobs.no-such-pool", Inbox())
        with pytest.raises(ValueError):
            await bus.declare_private_queue([("mediacraft.no-such-exchange", "x")])

    # --- handler outcomes -----------------------------------------------------------------------

    async def test_a_retryable_failure_comes_back_after_the_delay_of_its_step(
        self, bus: Any, harness: BusHarness
    ) -> None:
        deliveries = Inbox(harness)
        others = {SCHEDULER_INBOX: Inbox(), job_queue("watermark"): Inbox()}

        async def backend_down_once(incoming: Incoming) -> None:
            await deliveries(incoming)
            if incoming.retries == 0:
                raise RetryableError("generation backend down", delay=0.3)  # step: 500 ms

        await bus.consume(JOB_QUEUE, backend_down_once)
        for name, inbox in others.items():
            await bus.consume(name, inbox)
        envelope = probe(7)
        await bus.publish(JOBS, POOL, envelope)

        first = await deliveries.next()
        assert first.retries == 0
        await harness.advance(0.45)
        await harness.quiet()
        assert deliveries.empty(), "came back before its delay step"
        await harness.advance(0.1)

        second = await deliveries.next()
        assert deliveries.times[1] - deliveries.times[0] >= 0.5
        assert second.envelope.message_id == envelope.message_id
        assert (second.queue, second.exchange, second.routing_key) == (JOB_QUEUE, JOBS, POOL)
        assert second.retries == 1 and second.headers[RETRIES_HEADER] == 1
        # it came back to its own queue only: the next message each other queue sees is a sentinel
        await bus.publish(COMMANDS, SCHEDULER_KEY, probe(100))
        await bus.publish(JOBS, "watermark", probe(101))
        assert [number(await inbox.next()) for inbox in others.values()] == [100, 101]

    async def test_the_delivery_limit_parks_a_poison_message(self, bus: Any) -> None:
        counts: list[int] = []
        dead = Inbox()

        async def crashes(incoming: Incoming) -> None:
            counts.append(incoming.delivery_count)
            raise RuntimeError("decoder crashed")

        await bus.consume(DEAD_LETTERS, dead)
        await bus.consume(JOB_QUEUE, crashes, prefetch=1)
        envelope = probe(9)
        await bus.publish(JOBS, POOL, envelope)

        parked = await dead.next()
        assert parked.envelope.message_id == envelope.message_id
        assert counts == list(range(DELIVERY_LIMIT))  # exactly DELIVERY_LIMIT deliveries
        assert parked.headers["x-first-death-reason"] == "delivery_limit"
        assert parked.headers["x-first-death-queue"] == JOB_QUEUE

    async def test_a_released_message_comes_back_fresh_and_never_reaches_the_delivery_limit(self, bus: Any) -> None:
        deliveries, dead = Inbox(), Inbox()
        releases = DELIVERY_LIMIT + 2  # more than a poison message is allowed

        async def not_now(incoming: Incoming) -> None:
            await deliveries(incoming)
            if len(deliveries.seen) <= releases:
                raise Release("this consumer cannot take it")

        await bus.consume(DEAD_LETTERS, dead)
        await bus.consume(JOB_QUEUE, not_now, prefetch=1)
        envelope = probe(7)
        await bus.publish(JOBS, POOL, envelope, headers={"x-mc-trace": "abc"})

        got = [await deliveries.next() for _ in range(releases + 1)]
        assert {g.envelope.message_id for g in got} == {envelope.message_id}
        # each copy is a first delivery from where the message was published, its headers kept
        assert [(g.redelivered, g.delivery_count, g.retries) for g in got] == [(False, 0, 0)] * len(got)
        assert {(g.exchange, g.routing_key) for g in got} == {(JOBS, POOL)}
        assert {g.headers["x-mc-trace"] for g in got} == {"abc"}
        await bus.publish(JOBS, POOL, probe(8))  # the last copy was acked: the next is the new message
        assert number(await deliveries.next()) == 8
        assert dead.empty()

    async def test_a_crash_requeues_and_the_next_delivery_can_succeed(self, bus: Any) -> None:
        deliveries = Inbox()

        async def lost_once(incoming: Incoming) -> None:
            await deliveries(incoming)
            if not incoming.redelivered:
                raise RuntimeError("worker lost")

        await bus.consume(JOB_QUEUE, lost_once)
        await bus.publish(JOBS, POOL, probe(3))

        first, second = await deliveries.next(), await deliveries.next()
        assert first.envelope.message_id == second.envelope.message_id
        assert (second.redelivered, second.delivery_count) == (True, 1)
        await bus.publish(JOBS, POOL, probe(4))  # acked, not requeued: the next one is the new message
        assert number(await deliveries.next()) == 4

    async def test_invalid_input_is_dead_lettered_at_once_with_its_reason(self, bus: Any) -> None:
        calls, dead = Inbox(), Inbox()

        async def rejects(incoming: Incoming) -> None:
            await calls(incoming)
            raise InvalidInput("region outside the frame", code="bad_region")

        await bus.consume(DEAD_LETTERS, dead)
        await bus.consume(JOB_QUEUE, rejects)
        envelope = probe(11)
        await bus.publish(JOBS, POOL, envelope)

        parked = await dead.next()
        assert parked.envelope.message_id == envelope.message_id
        assert parked.headers[REASON_HEADER] == "bad_region: region outside the frame"
        assert parked.headers[TARGET_HEADER] == JOB_QUEUE
        assert len(calls.seen) == 1

    async def test_a_body_that_is_not_an_envelope_is_dead_lettered_unseen(self, bus: Any) -> None:
        handled = Inbox()
        await bus.consume(SCHEDULER_INBOX, handled)
        body = b'{"not": "an envelope"}'

        await bus.publish_raw(COMMANDS, SCHEDULER_KEY, body)

        parked = await eventually(lambda: bus.get(DEAD_LETTERS), timeout=WAIT, what="a parked message")
        assert parked.body == body
        assert parked.headers[REASON_HEADER].startswith("invalid_envelope")
        await bus.publish(COMMANDS, SCHEDULER_KEY, probe(12))  # the consumer is alive, and saw only this
        assert number(await handled.next()) == 12
        assert len(handled.seen) == 1

    async def test_without_a_delivery_limit_a_second_failure_dead_letters(self, bus: Any) -> None:
        calls, dead = Inbox(), Inbox()
        private = await bus.declare_private_queue([(EVENTS, "task.#")])

        async def always_fails(incoming: Incoming) -> None:
            await calls(incoming)
            raise RuntimeError("cannot render")

        await bus.consume(DEAD_LETTERS, dead)
        await bus.consume(private, always_fails)
        await bus.publish(EVENTS, "task.progressed", probe(13))

        parked = await dead.next()
        assert number(parked) == 13
        assert len(calls.seen) == 2 and calls.seen[1].redelivered
        assert "RuntimeError: cannot render" in parked.headers[REASON_HEADER]
        assert parked.headers[TARGET_HEADER] == private

    # --- routing --------------------------------------------------------------------------------

    async def test_topic_routing_follows_the_bindings(self, bus: Any) -> None:
        any_depth = await bus.declare_private_queue([(EVENTS, "task.#")])
        one_word = await bus.declare_private_queue([(EVENTS, "task.*")])
        inboxes = {name: Inbox() for name in (any_depth, one_word, SCHEDULER_INBOX, IDENTITY_INBOX)}
        for name, inbox in inboxes.items():
            await bus.consume(name, inbox)

        await bus.publish(EVENTS, "task.status_changed", probe(1))
        await bus.publish(EVENTS, "task.progress.detail", probe(2))
        await bus.publish(EVENTS, "job.started", Envelope.wrap(JobStarted(task_id="t", attempt=1, worker_id="w")))
        await bus.publish(EVENTS, "user.created", Envelope.wrap(UserCreated(user_id="u-1")))
        await bus.publish(EVENTS, "task.sentinel", probe(3))  # queues are FIFO: it arrives last

        assert [number(await inboxes[any_depth].next()) for _ in range(3)] == [1, 2, 3]
        assert [number(await inboxes[one_word].next()) for _ in range(2)] == [1, 3]
        assert (await inboxes[SCHEDULER_INBOX].next()).envelope.type == JobStarted.TYPE
        assert (await inboxes[IDENTITY_INBOX].next()).envelope.type == UserCreated.TYPE

    async def test_fanout_reaches_every_bound_queue(self, open_bus: Callable[[], Awaitable[Any]]) -> None:
        workers = [await open_bus(), await open_bus()]
        inboxes = []
        for worker in workers:
            inbox = Inbox()
            await worker.consume(await worker.declare_private_queue([(CONTROL, "")]), inbox)
            inboxes.append(inbox)
        cancel = Envelope.wrap(CancelJob(task_id="t-5", attempt=2))

        await workers[0].publish(CONTROL, "", cancel)

        for inbox in inboxes:
            assert (await inbox.next()).envelope.message_id == cancel.message_id

    async def test_a_private_queue_belongs_to_its_bus(self, open_bus: Callable[[], Awaitable[Any]]) -> None:
        owner, other = await open_bus(), await open_bus()
        private = await owner.declare_private_queue([(EVENTS, "task.#")])
        inbox = Inbox()
        await owner.consume(private, inbox)

        await other.publish(EVENTS, "task.status_changed", probe(1))
        assert number(await inbox.next()) == 1
        with pytest.raises(ValueError):
            await other.consume(private, Inbox())

        await owner.close()
        with pytest.raises(Unroutable):  # it went away with its bus: nothing else binds task.#
            await other.publish(EVENTS, "task.status_changed", probe(2))

    async def test_one_active_consumer_and_a_standby_that_takes_over(
        self, open_bus: Callable[[], Awaitable[Any]]
    ) -> None:
        active, standby = await open_bus(), await open_bus()
        first, second = Inbox(), Inbox()
        await active.consume(SCHEDULER_INBOX, first)
        await standby.consume(SCHEDULER_INBOX, second)

        for n in (1, 2, 3):
            await standby.publish(COMMANDS, SCHEDULER_KEY, probe(n))
        assert [number(await first.next()) for _ in range(3)] == [1, 2, 3]

        await active.close()
        for n in (4, 5):
            await standby.publish(COMMANDS, SCHEDULER_KEY, probe(n))
        assert [number(await second.next()) for _ in range(2)] == [4, 5]
        assert len(second.seen) == 2
