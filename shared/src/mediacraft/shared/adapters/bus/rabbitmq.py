"""The bus port over RabbitMQ with aio-pika.

Shapes the broker and the client force (ARCHITECTURE.md, Known pitfalls):
- `connect_robust` restores only the channels, queues and consumers that are still referenced
  (weak references), so this object keeps every one of them for its whole life.
- One publisher channel with confirms and `on_return_raises`: a publish returns once the broker
  has confirmed it, an unroutable one raises Unroutable. While the connection is down a publish
  waits for the reconnection and tries again until confirmed or `publish_timeout` (BusUnavailable),
  so a publish that returned is never lost; a confirm lost with the connection means the message
  may arrive twice, which consumers absorb by being idempotent.
- Each consume() opens its own channel, so prefetch is per subscription. Handlers run in tasks of
  this bus, not in the client's delivery tasks, which the client cancels when a channel closes: a
  handler that is running during a reconnect finishes, its ack on the dead channel fails, and the
  broker delivers the message again (redelivered=True).
- RabbitMQ 3.10: quorum queues get an explicit `x-delivery-limit` from the topology; nothing here
  uses basic.get on a single-active-consumer queue; `consumer_timeout` (30 min, global) closes a
  channel that holds an unacked message longer, which shows up as a redelivery like a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity, ChannelPreconditionFailed, PublishError
from aiormq import spec

from mediacraft.shared.adapters.bus import outcomes
from mediacraft.shared.adapters.bus.outcomes import Action, Outcome
from mediacraft.shared.adapters.bus.raw import QueueDepth, RawMessage, check_gettable
from mediacraft.shared.adapters.bus.routing import DEFAULT_EXCHANGE, redeliver_arguments
from mediacraft.shared.adapters.bus.shutdown import finish
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages.envelope import Envelope
from mediacraft.shared.ports.bus import BusUnavailable, Handler, Incoming, Unroutable
from mediacraft.shared.topology import DEAD, REDELIVER, RETRY, QueueSpec, Topology

log = get_logger("mediacraft.bus.rabbitmq")

PRIVATE_PREFIX = "private."
# what a lost connection or channel looks like from aio-pika and aiormq
TRANSIENT = (AMQPError, ConnectionError, OSError, RuntimeError)
# robust channels wait for the connection before every call: bound what shutdown waits for
CLEANUP_TIMEOUT = 5.0
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


class _QuietClient(logging.Filter):
    """aio-pika and aiormq log each lost connection as ERROR lines with a traceback per channel.
    This bus logs a reconnect itself (one warning with the reason, one line when back), so their
    records are dropped, except the one that carries the reason, which becomes `bus.disconnected`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        if record.name == "aiormq.connection" and record.getMessage().startswith("Unexpected connection close"):
            reason = record.args[-1] if isinstance(record.args, tuple) and record.args else record.getMessage()
            log.warning("bus.disconnected", reason=str(reason))
        return False


_QUIET = _QuietClient()
for _name in ("aiormq", "aiormq.connection", "aio_pika", "aio_pika.tools", "aio_pika.robust_connection"):
    _logger = logging.getLogger(_name)
    if _QUIET not in _logger.filters:
        _logger.addFilter(_QUIET)


class RabbitSubscription:
    """One consume() call: its own channel, queue object and consumer tag, kept alive here."""

    def __init__(
        self,
        bus: RabbitBus,
        spec: QueueSpec,
        channel: AbstractRobustChannel,
        queue: AbstractRobustQueue,
        handler: Handler,
    ) -> None:
        self.bus = bus
        self.spec = spec
        self.channel = channel
        self.queue = queue
        self.handler = handler
        self.tag: str | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancelled = False

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """aio-pika's callback: hand the delivery to a task of the bus and return at once."""
        if self.cancelled:
            return  # left unacked: the broker requeues it when this channel closes
        task = asyncio.get_running_loop().create_task(self.bus._handle(self, message))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel(self) -> None:
        """Stop deliveries, let running handlers settle (within the bus's grace), close the channel."""
        if self.cancelled:
            return
        self.cancelled = True
        self.bus._subscriptions.discard(self)
        if self.tag is not None:
            # also forgets the consumer, so a reconnect does not bring it back
            await _bounded(self.queue.cancel(self.tag), self.bus._cleanup_timeout())
        await finish(self.tasks, self.bus.close_grace)
        await _bounded(self.channel.close(), self.bus._cleanup_timeout())
        await self.bus._forget_private(self.spec.name)


class RabbitBus:
    """The bus port on a RabbitMQ broker."""

    def __init__(
        self,
        url: str,
        *,
        topology: Topology,
        publish_timeout: float = 30.0,
        reconnect_interval: float = 1.0,
        close_grace: float = 10.0,
        connect_timeout: float = 10.0,
        ping_timeout: float = 5.0,
        connection_name: str = "mediacraft",
    ) -> None:
        self.url = url
        self.topology = topology
        self.publish_timeout = publish_timeout
        self.reconnect_interval = reconnect_interval
        self.close_grace = close_grace
        self.connect_timeout = connect_timeout
        self.ping_timeout = ping_timeout
        self.connection_name = connection_name
        self.reconnects = 0
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._admin: AbstractRobustChannel | None = None
        self._known_exchanges = {DEFAULT_EXCHANGE, *(e.name for e in topology.exchanges)}
        self._topology_queues: list[AbstractRobustQueue] = []
        self._private: dict[str, AbstractRobustQueue] = {}
        self._subscriptions: set[RabbitSubscription] = set()
        self._declared = False
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (once) and declare the whole topology; declaring again is harmless."""
        if self._connection is None:
            try:
                connection = await aio_pika.connect_robust(
                    self.url,
                    timeout=self.connect_timeout,
                    reconnect_interval=self.reconnect_interval,
                    client_properties={"connection_name": self.connection_name},
                )
            except (*TRANSIENT, TimeoutError) as exc:
                raise BusUnavailable(f"cannot connect to {_redacted(self.url)}: {exc!r}") from exc
            connection.reconnect_callbacks.add(self._on_reconnect)
            self._connection = connection
            self._publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
            self._admin = await connection.channel(publisher_confirms=False)
        await self._declare_topology()

    async def _declare_topology(self) -> None:
        channel = self._admin_channel()
        # the first declaration is kept for restoring after a reconnect; later ones only check
        robust = not self._declared
        try:
            for ex in self.topology.exchanges:
                await channel.declare_exchange(ex.name, ex.type, durable=True, robust=robust)
            for spec in self.topology.queues:
                queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments(), robust=robust)
                for exchange, key in spec.bindings:
                    await queue.bind(exchange, key, robust=robust)
                if spec.redeliverable:
                    await queue.bind(REDELIVER, "", arguments=redeliver_arguments(spec.name), robust=robust)
                if robust:
                    self._topology_queues.append(queue)
        except ChannelPreconditionFailed as exc:
            raise RuntimeError(f"the broker holds a different topology: {exc}") from exc
        self._declared = True

    async def close(self) -> None:
        """Cancel consumers (running handlers get the grace period), then disconnect."""
        connection = self._connection
        if connection is None or self._closing:
            return
        self._closing = True
        try:
            # handlers still settling during the grace period need the connection
            await asyncio.gather(*(s.cancel() for s in list(self._subscriptions)), return_exceptions=True)
            await _bounded(connection.close(), CLEANUP_TIMEOUT)
        finally:
            self._connection = None
            self._private.clear()
            self._topology_queues.clear()
            self._publisher = self._admin = None
            self._closing = False

    def _on_reconnect(self, *_: Any) -> None:
        self.reconnects += 1
        log.info("bus.reconnected", reconnects=self.reconnects)

    # --- publishing -----------------------------------------------------------------------------

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
        """Publish and wait for the broker's confirm, at most `timeout` seconds (None, or longer
        than `publish_timeout`: `publish_timeout`); Unroutable if no queue took it."""
        await self._publish(
            exchange,
            routing_key,
            envelope.to_bytes(),
            headers,
            mandatory,
            type=envelope.type,
            correlation_id=envelope.correlation_id,
            timestamp=envelope.occurred_at,
            timeout=timeout,
        )

    async def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
    ) -> None:
        """Publish bytes as they are (replays, tests of malformed bodies), with the same guarantees."""
        await self._publish(exchange, routing_key, body, headers, mandatory)

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict[str, Any] | None,
        mandatory: bool,
        *,
        type: str | None = None,
        correlation_id: str | None = None,
        timestamp: datetime | None = None,
        timeout: float | None = None,
    ) -> None:
        channel = self._publisher_channel()
        # the AMQP properties go straight to the channel underneath: aio-pika's Message and
        # Exchange layers would only copy them. The publish still waits for its frame to be
        # written (wait=True): without that, a frame queued on a connection that is going down
        # can wait for a confirm that never comes, until the publish timeout
        properties = spec.Basic.Properties(
            headers=dict(headers or {}),
            content_type="application/json",
            delivery_mode=PERSISTENT,
            message_type=type,
            correlation_id=correlation_id,
            timestamp=timestamp,
        )
        loop = asyncio.get_running_loop()
        limit = self.publish_timeout if timeout is None else max(0.0, min(timeout, self.publish_timeout))
        deadline = loop.time() + limit
        attempt = 0
        failure: BaseException | None = None
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    await channel.ready()  # during a reconnect: until the channel is back
                    underlay = await channel.get_underlay_channel()
                    await underlay.basic_publish(
                        body, exchange=exchange, routing_key=routing_key, properties=properties, mandatory=mandatory
                    )
                return
            except PublishError:
                raise Unroutable(f"no queue bound to {exchange!r} for {routing_key!r}") from None
            except ChannelNotFoundEntity as exc:
                if exchange not in self._known_exchanges:
                    raise Unroutable(f"no exchange {exchange!r}") from None
                # another publish to a missing exchange closed the shared channel under this one
                failure = exc
            except TimeoutError as exc:
                failure = exc
                break
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                failure = ConnectionError("publish cancelled by a closing channel")
            except TRANSIENT as exc:  # connection lost, channel closed, or the broker nacked
                failure = exc
            attempt += 1
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0, max(0.0, deadline - loop.time())))
        raise BusUnavailable(f"publish to {exchange!r} not confirmed within {limit}s: {failure!r}")

    # --- consuming ------------------------------------------------------------------------------

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> RabbitSubscription:
        """Deliver `queue` to `handler` on a channel of its own with at most `prefetch` unacked."""
        spec = self._spec(queue)
        connection = await self._connected()
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=max(1, prefetch))
        declared = await self._declare_for_consumer(channel, spec)
        subscription = RabbitSubscription(self, spec, channel, declared, handler)
        self._subscriptions.add(subscription)
        subscription.tag = await declared.consume(subscription.on_message)
        return subscription

    async def _declare_for_consumer(self, channel: AbstractRobustChannel, spec: QueueSpec) -> AbstractRobustQueue:
        # declared on the consumer's channel too, so that its restore after a reconnect finds the queue
        if spec.name in self._private:
            return await channel.declare_queue(spec.name, exclusive=True, auto_delete=True)
        return await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments())

    async def _handle(self, subscription: RabbitSubscription, message: AbstractIncomingMessage) -> None:
        error: BaseException | None = None
        try:
            envelope = Envelope.from_bytes(message.body)
        except InvalidInput as exc:
            error = exc
        else:
            try:
                await subscription.handler(self._incoming(subscription.spec.name, message, envelope))
            except Exception as exc:  # the port maps every handler failure to an outcome
                error = exc
        outcome = outcomes.decide(
            error, topology=self.topology, spec=subscription.spec, redelivered=bool(message.redelivered)
        )
        if error is not None:
            log.info(
                "bus.handler_failed",
                queue=subscription.spec.name,
                outcome=outcome.action.value,
                reason=outcome.reason or outcomes.reason_for(error),
            )
        await self._settle(subscription.spec.name, message, outcome)

    def _incoming(self, queue: str, message: AbstractIncomingMessage, envelope: Envelope) -> Incoming:
        headers = dict(message.headers or {})
        redelivered = bool(message.redelivered)
        exchange, routing_key = outcomes.origin_of(headers, message.exchange or "", message.routing_key or "")
        return Incoming(
            envelope=envelope,
            queue=queue,
            exchange=exchange,
            routing_key=routing_key,
            redelivered=redelivered,
            delivery_count=outcomes.delivery_count_of(headers, redelivered),
            retries=outcomes.retries_of(headers),
            headers=headers,
            live=lambda: not _channel_gone(message),
        )

    async def _settle(self, queue: str, message: AbstractIncomingMessage, outcome: Outcome) -> None:
        if _channel_gone(message):
            # the broker has already put it back: another copy would be a duplicate
            log.info("bus.delivery_channel_closed", queue=queue, outcome=outcome.action.value)
            return
        try:
            if outcome.action is Action.REQUEUE:
                await message.nack(requeue=True)
                return
            if outcome.action is not Action.ACK:
                await self._forward(queue, message, outcome)
            await message.ack()
        except (Unroutable, BusUnavailable) as exc:
            log.error("bus.settle_failed", queue=queue, outcome=outcome.action.value, error=str(exc))
            await _bounded(message.nack(requeue=True), CLEANUP_TIMEOUT)
        except TRANSIENT as exc:
            # acking on a channel that closed with a reconnect raises; the broker redelivers
            log.info("bus.ack_lost", queue=queue, outcome=outcome.action.value, error=repr(exc))

    async def _forward(self, queue: str, message: AbstractIncomingMessage, outcome: Outcome) -> None:
        exchange, routing_key = message.exchange or "", message.routing_key or ""
        if outcome.action is Action.RETRY:
            headers = outcomes.retry_headers(message.headers, queue=queue, exchange=exchange, routing_key=routing_key)
            target, key = RETRY, str(outcome.delay_ms)
        elif outcome.action is Action.RELEASE:
            headers = outcomes.release_headers(message.headers, queue=queue, exchange=exchange, routing_key=routing_key)
            target, key = REDELIVER, ""
        else:
            headers = outcomes.dead_headers(
                message.headers, queue=queue, exchange=exchange, routing_key=routing_key, reason=outcome.reason
            )
            target, key = DEAD, routing_key
        await self._publish(
            target,
            key,
            message.body,
            headers,
            True,
            type=message.type,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
        )

    # --- private queues, get, ping --------------------------------------------------------------

    async def declare_private_queue(self, bindings: Sequence[tuple[str, str]]) -> str:
        """An exclusive auto-delete queue of this connection, bound as given; returns its name."""
        await self._connected()
        channel = self._admin_channel()
        name = f"{PRIVATE_PREFIX}{uuid.uuid4().hex}"
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        self._private[name] = queue
        try:
            for exchange, key in bindings:
                await queue.bind(exchange, key)
        except ChannelNotFoundEntity:
            await self._forget_private(name)
            raise ValueError(f"cannot bind {name}: an exchange of {list(bindings)} does not exist") from None
        return name

    async def _forget_private(self, name: str) -> None:
        queue = self._private.pop(name, None)
        if queue is None or self._admin is None:
            return
        # drops it from the channel's restore list as well, so a reconnect does not revive it
        await _bounded(self._admin.queue_delete(name), self._cleanup_timeout())

    async def get(self, queue: str) -> RawMessage | None:
        """Take the head of `queue` without a consumer (dead-letter inspection), None when empty."""
        spec = self._spec(queue)
        check_gettable(spec, queue)
        await self._connected()
        channel = self._admin_channel()
        declared = await channel.declare_queue(queue, passive=True, robust=False)
        message = await declared.get(fail=False, timeout=5)
        if message is None:
            return None
        await message.ack()
        exchange, routing_key = outcomes.origin_of(message.headers, message.exchange or "", message.routing_key or "")
        return RawMessage(
            message.body, queue, exchange, routing_key, bool(message.redelivered), dict(message.headers or {})
        )

    async def queue_depth(self, queue: str) -> QueueDepth:
        """Messages ready in `queue` and its consumers, from a passive declare (ValueError: unknown)."""
        self._spec(queue)
        await self._connected()
        # on the underlying channel: the robust channel answers a passive declare of a queue it
        # declared itself from its cache, with the counts of that first declaration
        channel = await self._admin_channel().get_underlay_channel()
        result = await channel.queue_declare(queue=queue, passive=True)
        return QueueDepth(ready=int(result.message_count or 0), consumers=int(result.consumer_count or 0))

    async def ping(self) -> bool:
        """True when the broker answers a round trip on this connection."""
        connection = self._connection
        if connection is None or connection.is_closed or not connection.connected.is_set() or self._admin is None:
            return False
        try:
            async with asyncio.timeout(self.ping_timeout):
                await self._admin.ready()
                channel = await self._admin.get_underlay_channel()
                await channel.basic_qos(prefetch_count=0)
            return True
        except (*TRANSIENT, TimeoutError):
            return False

    # --- helpers --------------------------------------------------------------------------------

    def _spec(self, queue: str) -> QueueSpec:
        if queue in self._private:
            return QueueSpec(queue, redeliverable=False)
        try:
            return self.topology.queue(queue)
        except KeyError:
            raise ValueError(f"no queue {queue!r} in the topology or among this bus's private queues") from None

    async def _connected(self) -> AbstractRobustConnection:
        """The connection once it is up, waiting through a reconnect up to publish_timeout."""
        connection = self._require_connection()
        try:
            async with asyncio.timeout(self.publish_timeout):
                await connection.ready()
        except TimeoutError:
            raise BusUnavailable(f"no connection to the broker within {self.publish_timeout}s") from None
        return connection

    def _cleanup_timeout(self) -> float:
        connection = self._connection
        # while disconnected, only the local part of a cleanup call (forgetting state) can happen
        return CLEANUP_TIMEOUT if connection is not None and connection.connected.is_set() else 0.1

    def _require_connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("bus not started")
        return self._connection

    def _publisher_channel(self) -> AbstractRobustChannel:
        self._require_connection()
        assert self._publisher is not None
        return self._publisher

    def _admin_channel(self) -> AbstractRobustChannel:
        self._require_connection()
        assert self._admin is not None
        return self._admin


def _channel_gone(message: AbstractIncomingMessage) -> bool:
    try:
        return message.channel.is_closed
    except TRANSIENT:
        return True


async def _bounded(awaitable: Any, seconds: float) -> None:
    """Best effort with a deadline: shutdown must not hang on a connection that is down."""
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except (*TRANSIENT, TimeoutError):
        pass


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
