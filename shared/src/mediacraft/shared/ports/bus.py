"""Bus port: publish envelopes to exchanges, consume queues with at-least-once delivery.

Handler outcome rules, the same for every adapter:
- the handler returns: the message is acked;
- it raises RetryableError(delay=s): the message goes to the delay queue of the smallest step of
  at least `s` seconds and, when that is over, back to the queue it was consumed from
  (`Incoming.retries` counts how often that happened);
- it raises InvalidInput, or the body is not a valid envelope: the message is dead-lettered at
  once with the reason in the `x-mc-dead-reason` header;
- it raises Release: the handler did not process the message and gives it back for another
  consumer; it returns to the tail of its queue through the redeliver exchange as a fresh
  delivery, so it does not count toward the delivery limit (a nack would, on RabbitMQ before 4.3);
- anything else: the message is requeued; on a queue with a delivery limit the broker parks it
  in dead letters when the limit is reached, elsewhere a second failure dead-letters it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mediacraft.shared.errors import MediaCraftError
from mediacraft.shared.messages.envelope import Envelope
from mediacraft.shared.topology import Topology


class Unroutable(MediaCraftError):
    """A publish that no queue took (mandatory flag returned it)."""

    code = "unroutable"


class BusUnavailable(MediaCraftError):
    """The broker could not confirm a publish."""

    code = "bus_unavailable"


class Release(Exception):
    """Raised by a handler that did not process its message: give it back, not counted as a failure.

    For what is wrong with this consumer, not with the message (it is shutting down, its disk is
    short). A queue not bound to the redeliver exchange gets a plain requeue instead.
    """


@dataclass(frozen=True)
class Incoming:
    """One delivery as a handler sees it."""

    envelope: Envelope
    queue: str
    exchange: str
    routing_key: str
    redelivered: bool = False
    delivery_count: int = 0  # earlier deliveries of this very message (requeues)
    retries: int = 0  # trips through a delay queue so far
    headers: dict[str, Any] = field(default_factory=dict)
    # False once this delivery can no longer be settled (its channel closed with a reconnect): the
    # broker has put the message back, so a handler still holding it should not act on it any more
    live: Callable[[], bool] = field(default=lambda: True, compare=False, repr=False)


Handler = Callable[[Incoming], Awaitable[None]]


class Subscription(Protocol):
    async def cancel(self) -> None: ...


class Bus(Protocol):
    topology: Topology

    async def start(self) -> None:
        """Connect and declare the whole topology (idempotent)."""

    async def close(self) -> None:
        """Stop consumers and disconnect; unacked messages go back to their queues."""

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
        """Publish and wait for the broker's confirm; raise Unroutable if no queue took it.

        BusUnavailable when no confirm came within `timeout` seconds (None: the adapter's own
        publish timeout, which rides out a broker restart; a service answering a request passes
        a short one, since its caller is waiting).
        """

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Subscription:
        """Start delivering `queue` to `handler`, at most `prefetch` unacked at a time."""

    async def declare_private_queue(self, bindings: Sequence[tuple[str, str]]) -> str:
        """An exclusive, auto-delete queue of this connection bound as given; returns its name."""

    async def ping(self) -> bool:
        """True when the broker answers (readiness)."""
