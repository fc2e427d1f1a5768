"""In-process bus with RabbitMQ's semantics: exchanges, bindings, acks, delays and dead letters.

`MemoryBroker` holds exchanges, queues and bindings; a `MemoryBus` is one connection to it. Several
buses on one broker behave like several processes on one RabbitMQ: a single-active-consumer queue
feeds only its first live consumer, an exclusive private queue belongs to the bus that declared it
and goes away with it. Queue TTLs (the delay queues) run on the injected Clock, so tests move time
with a FakeClock and the single-process mode runs on the SystemClock. `drain()` waits until nothing
can move any more, which tests use instead of sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mediacraft.shared.adapters.bus import outcomes
from mediacraft.shared.adapters.bus.outcomes import Action, Outcome
from mediacraft.shared.adapters.bus.raw import QueueDepth, RawMessage, check_gettable
from mediacraft.shared.adapters.bus.routing import DEFAULT_EXCHANGE, binding_matches, redeliver_arguments
from mediacraft.shared.adapters.bus.shutdown import finish
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages.envelope import Envelope
from mediacraft.shared.ports.bus import BusUnavailable, Handler, Incoming, Unroutable
from mediacraft.shared.topology import DEAD, REDELIVER, RETRY, QueueSpec, Topology

log = get_logger("mediacraft.bus.memory")

PRIVATE_PREFIX = "private."


@dataclass(eq=False)
class _Message:
    body: bytes
    exchange: str
    routing_key: str
    headers: dict[str, Any]
    redelivered: bool = False
    delivery_count: int = 0


@dataclass(eq=False)
class _Queue:
    spec: QueueSpec
    owner: MemoryBus | None = None  # set on an exclusive (private) queue
    ready: deque[_Message] = field(default_factory=deque)
    consumers: list[MemorySubscription] = field(default_factory=list)
    next_consumer: int = 0
    deleted: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(eq=False)
class _Binding:
    queue: _Queue
    key: str
    arguments: dict[str, Any] | None


class MemorySubscription:
    """One consume() call: a handler with at most `prefetch` deliveries in flight."""

    def __init__(self, bus: MemoryBus, queue: _Queue, handler: Handler, prefetch: int) -> None:
        self.bus = bus
        self.queue = queue
        self.handler = handler
        self.prefetch = prefetch
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancelled = False

    @property
    def has_room(self) -> bool:
        return self.in_flight < self.prefetch

    async def cancel(self) -> None:
        """Stop deliveries, let running handlers finish (within the bus's grace), requeue the rest."""
        await self.bus._broker._cancel(self, self.bus.close_grace)


class MemoryBroker:
    """The shared state of every MemoryBus attached to it."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._exchanges: dict[str, str] = {}
        self._queues: dict[str, _Queue] = {}
        self._bindings: dict[str, list[_Binding]] = defaultdict(list)
        self._timers: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.closed = False

    # --- declarations ---------------------------------------------------------------------------

    def declare(self, topology: Topology) -> None:
        """Declare every exchange, queue and binding of `topology`; declaring again changes nothing."""
        for ex in topology.exchanges:
            self.declare_exchange(ex.name, ex.type)
        for spec in topology.queues:
            queue = self.declare_queue(spec)
            for exchange, key in spec.bindings:
                self.bind(queue, exchange, key)
            if spec.redeliverable:
                self.bind(queue, REDELIVER, "", redeliver_arguments(spec.name))

    def declare_exchange(self, name: str, type_: str) -> None:
        """Declare an exchange; an existing one must have the same type."""
        existing = self._exchanges.setdefault(name, type_)
        if existing != type_:
            raise ValueError(f"exchange {name} exists with type {existing}, not {type_}")

    def declare_queue(self, spec: QueueSpec, owner: MemoryBus | None = None) -> _Queue:
        """Declare a queue (exclusive to `owner` when given); an existing one must match the spec."""
        queue = self._queues.get(spec.name)
        if queue is None:
            queue = self._queues[spec.name] = _Queue(spec, owner)
        elif queue.spec.arguments() != spec.arguments():
            # RabbitMQ answers PRECONDITION_FAILED to a redeclaration with other arguments
            raise ValueError(f"queue {spec.name} exists with arguments {queue.spec.arguments()}")
        return queue

    def bind(self, queue: _Queue, exchange: str, key: str, arguments: dict[str, Any] | None = None) -> None:
        """Bind a queue to an exchange; the same binding twice is one binding."""
        if exchange not in self._exchanges:
            raise ValueError(f"no exchange {exchange!r}")
        bindings = self._bindings[exchange]
        if not any(b.queue is queue and b.key == key and b.arguments == arguments for b in bindings):
            bindings.append(_Binding(queue, key, arguments))

    def queue(self, name: str) -> _Queue:
        """The queue called `name`; ValueError when there is none."""
        try:
            return self._queues[name]
        except KeyError:
            raise ValueError(f"no queue {name!r}") from None

    def delete_queue(self, name: str) -> None:
        """Delete a queue with its messages and bindings, if it exists."""
        queue = self._queues.get(name)
        if queue is not None:
            self._delete_queue(queue)

    def _delete_queue(self, queue: _Queue) -> None:
        queue.deleted = True
        queue.ready.clear()
        self._queues.pop(queue.name, None)
        for exchange, bindings in self._bindings.items():
            self._bindings[exchange] = [b for b in bindings if b.queue is not queue]

    # --- routing --------------------------------------------------------------------------------

    def publish(
        self, exchange: str, routing_key: str, body: bytes, headers: dict[str, Any] | None, mandatory: bool
    ) -> None:
        """Route a message into every matching queue; Unroutable when mandatory and none matched."""
        if self.closed:
            raise BusUnavailable("memory broker is closed")
        headers = dict(headers or {})
        targets = self._route(exchange, routing_key, headers)
        if not targets:
            if mandatory:
                raise Unroutable(f"no queue bound to {exchange!r} for {routing_key!r}")
            return
        for queue in targets:
            self._enqueue(queue, _Message(body, exchange, routing_key, dict(headers)))

    def _route(self, exchange: str, routing_key: str, headers: dict[str, Any]) -> list[_Queue]:
        if exchange == DEFAULT_EXCHANGE:
            queue = self._queues.get(routing_key)
            return [queue] if queue is not None else []
        type_ = self._exchanges.get(exchange)
        if type_ is None:
            raise Unroutable(f"no exchange {exchange!r}")
        found: dict[str, _Queue] = {}
        for b in self._bindings.get(exchange, ()):
            if b.queue.name not in found and binding_matches(type_, b.key, b.arguments, routing_key, headers):
                found[b.queue.name] = b.queue
        return list(found.values())

    def _enqueue(self, queue: _Queue, message: _Message) -> None:
        queue.ready.append(message)
        if queue.spec.message_ttl_ms is not None:
            self._start_timer(queue, message, queue.spec.message_ttl_ms / 1000)
        self._pump(queue)

    def _start_timer(self, queue: _Queue, message: _Message, seconds: float) -> None:
        task = asyncio.get_running_loop().create_task(self._expire_after(queue, message, seconds))
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _expire_after(self, queue: _Queue, message: _Message, seconds: float) -> None:
        await self.clock.sleep(seconds)
        try:
            queue.ready.remove(message)
        except ValueError:
            return  # consumed or purged before it expired
        self._dead_letter(queue, message, "expired")

    def _dead_letter(self, queue: _Queue, message: _Message, reason: str) -> None:
        """What RabbitMQ does at a queue's DLX: x-death bookkeeping, original routing key."""
        dlx = queue.spec.dead_letter_exchange
        if dlx is None or dlx not in self._exchanges:
            return  # RabbitMQ drops it as well
        headers = {k: v for k, v in message.headers.items() if k != outcomes.DELIVERY_COUNT_HEADER}
        deaths = [dict(d) for d in headers.get("x-death") or []]
        same = next((d for d in deaths if d.get("queue") == queue.name and d.get("reason") == reason), None)
        if same is not None:
            deaths.remove(same)
            same["count"] = int(same.get("count", 1)) + 1
        else:
            same = {
                "count": 1,
                "reason": reason,
                "queue": queue.name,
                "time": self.clock.now(),
                "exchange": message.exchange,
                "routing-keys": [message.routing_key],
            }
        headers["x-death"] = [same, *deaths]
        headers.setdefault("x-first-death-exchange", message.exchange)
        headers.setdefault("x-first-death-queue", queue.name)
        headers.setdefault("x-first-death-reason", reason)
        for target in self._route(dlx, message.routing_key, headers):
            self._enqueue(target, _Message(message.body, dlx, message.routing_key, dict(headers)))

    # --- delivery -------------------------------------------------------------------------------

    def _consumer_for(self, queue: _Queue, *, advance: bool) -> MemorySubscription | None:
        live = queue.consumers
        if not live:
            return None
        if queue.spec.single_active_consumer:
            return live[0] if live[0].has_room else None
        for i in range(len(live)):
            index = (queue.next_consumer + i) % len(live)
            if live[index].has_room:
                if advance:
                    queue.next_consumer = index + 1
                return live[index]
        return None

    def _pump(self, queue: _Queue) -> None:
        while queue.ready and not queue.deleted and not self.closed:
            consumer = self._consumer_for(queue, advance=True)
            if consumer is None:
                return
            message = queue.ready.popleft()
            consumer.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._deliver(consumer, message))
            consumer.tasks.add(task)
            self._handlers.add(task)
            task.add_done_callback(consumer.tasks.discard)
            task.add_done_callback(self._handlers.discard)

    async def _deliver(self, consumer: MemorySubscription, message: _Message) -> None:
        queue = consumer.queue
        settled = False
        try:
            error: BaseException | None = None
            try:
                envelope = Envelope.from_bytes(message.body)
            except InvalidInput as exc:
                error = exc
            else:
                try:
                    await consumer.handler(self._incoming(queue, message, envelope))
                except Exception as exc:  # the port maps every handler failure to an outcome
                    error = exc
            outcome = outcomes.decide(
                error, topology=consumer.bus.topology, spec=queue.spec, redelivered=message.redelivered
            )
            if error is not None:
                log.info(
                    "bus.handler_failed",
                    queue=queue.name,
                    outcome=outcome.action.value,
                    reason=outcome.reason or outcomes.reason_for(error),
                )
            self._settle(queue, message, outcome)
            settled = True
        finally:
            if not settled:
                self._requeue(queue, message)  # the handler was cancelled: unacked goes back
            consumer.in_flight -= 1
            self._pump(queue)

    def _incoming(self, queue: _Queue, message: _Message, envelope: Envelope) -> Incoming:
        exchange, routing_key = outcomes.origin_of(message.headers, message.exchange, message.routing_key)
        return Incoming(
            envelope=envelope,
            queue=queue.name,
            exchange=exchange,
            routing_key=routing_key,
            redelivered=message.redelivered,
            delivery_count=outcomes.delivery_count_of(message.headers, message.redelivered),
            retries=outcomes.retries_of(message.headers),
            headers=dict(message.headers),
        )

    def _settle(self, queue: _Queue, message: _Message, outcome: Outcome) -> None:
        try:
            if outcome.action is Action.RETRY:
                headers = outcomes.retry_headers(
                    message.headers, queue=queue.name, exchange=message.exchange, routing_key=message.routing_key
                )
                self.publish(RETRY, str(outcome.delay_ms), message.body, headers, mandatory=True)
            elif outcome.action is Action.DEAD:
                headers = outcomes.dead_headers(
                    message.headers,
                    queue=queue.name,
                    exchange=message.exchange,
                    routing_key=message.routing_key,
                    reason=outcome.reason,
                )
                self.publish(DEAD, message.routing_key, message.body, headers, mandatory=True)
            elif outcome.action is Action.RELEASE:
                headers = outcomes.release_headers(
                    message.headers, queue=queue.name, exchange=message.exchange, routing_key=message.routing_key
                )
                self.publish(REDELIVER, "", message.body, headers, mandatory=True)
            elif outcome.action is Action.REQUEUE:
                self._requeue(queue, message)
        except (Unroutable, BusUnavailable) as exc:
            # keep the message rather than lose it to a topology without a delay or dead queue
            log.error("bus.settle_failed", queue=queue.name, outcome=outcome.action.value, error=str(exc))
            self._requeue(queue, message)

    def _requeue(self, queue: _Queue, message: _Message) -> None:
        if queue.deleted:
            return
        message.redelivered = True
        message.delivery_count += 1
        if queue.spec.quorum:
            message.headers[outcomes.DELIVERY_COUNT_HEADER] = message.delivery_count
        limit = queue.spec.delivery_limit
        if limit is not None and message.delivery_count >= limit:  # `limit` deliveries done
            self._dead_letter(queue, message, "delivery_limit")
            return
        queue.ready.appendleft(message)

    # --- consumers ------------------------------------------------------------------------------

    def add_consumer(self, bus: MemoryBus, name: str, handler: Handler, prefetch: int) -> MemorySubscription:
        """Start delivering queue `name` to `handler` for `bus`."""
        queue = self.queue(name)
        if queue.owner is not None and queue.owner is not bus:
            raise ValueError(f"queue {name} is exclusive to another connection")
        consumer = MemorySubscription(bus, queue, handler, max(1, prefetch))
        queue.consumers.append(consumer)
        self._pump(queue)
        return consumer

    async def _cancel(self, consumer: MemorySubscription, grace: float) -> None:
        if consumer.cancelled:
            return
        consumer.cancelled = True
        queue = consumer.queue
        if consumer in queue.consumers:
            queue.consumers.remove(consumer)
        if queue.owner is not None and not queue.consumers:
            self._delete_queue(queue)  # auto-delete: the last consumer of a private queue left
        self._pump(queue)  # the next single-active consumer takes over
        await finish(consumer.tasks, grace)

    def take(self, name: str) -> RawMessage | None:
        """Remove and return the head of a queue, or None when it is empty."""
        queue = self.queue(name)
        check_gettable(queue.spec, name)
        if not queue.ready:
            return None
        m = queue.ready.popleft()
        exchange, routing_key = outcomes.origin_of(m.headers, m.exchange, m.routing_key)
        return RawMessage(m.body, name, exchange, routing_key, m.redelivered, dict(m.headers))

    # --- quiescence and shutdown ----------------------------------------------------------------

    def _stuck(self) -> bool:
        """True when a queue holds a message that a consumer with room could take."""
        return any(q.ready and self._consumer_for(q, advance=False) for q in self._queues.values())

    async def drain(self, timeout: float = 5.0) -> None:
        """Return once every consumed queue is empty and no handler runs; delay timers do not count."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await asyncio.sleep(0)  # let tasks created by the last step start
            running = {t for t in self._handlers if not t.done()}
            if not running and not self._stuck():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"bus still busy after {timeout}s: {len(running)} handlers running")
            if running:
                await asyncio.wait(running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            else:
                for queue in list(self._queues.values()):
                    self._pump(queue)

    async def close(self) -> None:
        """Stop every delay timer and handler; the broker takes no more messages."""
        self.closed = True
        await finish(self._handlers | self._timers, 0)


class MemoryBus:
    """The bus port in process; several instances may share one MemoryBroker."""

    def __init__(
        self,
        *,
        topology: Topology,
        clock: Clock | None = None,
        broker: MemoryBroker | None = None,
        close_grace: float = 10.0,
    ) -> None:
        if (
            broker is not None
            and clock is not None
            and clock is not broker.clock
            and not (isinstance(clock, SystemClock) and isinstance(broker.clock, SystemClock))
        ):
            raise ValueError("a shared MemoryBroker runs on its own clock: pass the same clock or none")
        self.topology = topology
        self.close_grace = close_grace
        self._owns_broker = broker is None
        self._broker = broker if broker is not None else MemoryBroker(clock)
        self._consumers: set[MemorySubscription] = set()
        self._private: set[str] = set()
        self._started = False
        self._closed = False

    @property
    def broker(self) -> MemoryBroker:
        return self._broker

    async def start(self) -> None:
        """Declare the topology on the broker (idempotent)."""
        if self._closed:
            raise RuntimeError("bus is closed")
        self._broker.declare(self.topology)
        self._started = True

    async def close(self) -> None:
        """Cancel this bus's consumers (their unfinished messages go back) and drop its private queues."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(c.cancel() for c in list(self._consumers)))
        self._consumers.clear()
        for name in self._private:
            self._broker.delete_queue(name)
        self._private.clear()
        if self._owns_broker:
            await self._broker.close()

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Route the envelope now (nothing to wait for, so `timeout` never applies); Unroutable if
        mandatory and no queue took it."""
        await self.publish_raw(exchange, routing_key, envelope.to_bytes(), headers=headers, mandatory=mandatory)

    async def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
    ) -> None:
        """Route bytes as they are (replays, tests of malformed bodies)."""
        self._check_open()
        self._broker.publish(exchange, routing_key, body, headers, mandatory)
        await asyncio.sleep(0)  # a publish is a suspension point on a real broker too

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> MemorySubscription:
        """Deliver `queue` to `handler` with at most `prefetch` unsettled deliveries."""
        self._check_open()
        consumer = self._broker.add_consumer(self, queue, handler, prefetch)
        self._consumers.add(consumer)
        return consumer

    async def declare_private_queue(self, bindings: Sequence[tuple[str, str]]) -> str:
        """A queue of this bus only, deleted when its last consumer leaves or the bus closes."""
        self._check_open()
        name = f"{PRIVATE_PREFIX}{uuid.uuid4().hex}"
        queue = self._broker.declare_queue(QueueSpec(name, redeliverable=False), owner=self)
        self._private.add(name)
        for exchange, key in bindings:
            self._broker.bind(queue, exchange, key)
        return name

    async def get(self, queue: str) -> RawMessage | None:
        """Take the head of `queue` without a consumer (dead-letter inspection), None when empty."""
        self._check_open()
        return self._broker.take(queue)

    async def queue_depth(self, queue: str) -> QueueDepth:
        """Messages ready in `queue` and its consumers (ValueError: no such queue)."""
        self._check_open()
        found = self._broker.queue(queue)
        return QueueDepth(ready=len(found.ready), consumers=len(found.consumers))

    async def ping(self) -> bool:
        """True while started and not closed."""
        return self._started and not self._closed and not self._broker.closed

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until no handler runs and no consumed queue holds a message (delays excluded)."""
        await self._broker.drain(timeout)

    def _check_open(self) -> None:
        if not self._started:
            raise RuntimeError("bus not started")
        if self._closed or self._broker.closed:
            raise BusUnavailable("bus is closed")
