"""Bytes-level access that both bus adapters offer beside the port, for dead-letter tooling and tests.

`publish_raw(exchange, routing_key, body, headers=..., mandatory=...)` sends bytes as they are
(a replay of a parked message whose body may not be an envelope), and `get(queue)` takes one
message off a queue's head without a consumer. RabbitMQ refuses basic.get on single-active-consumer
quorum queues, so both adapters refuse `get` on such a queue. `queue_depth(queue)` says how many
messages wait in a queue of the topology (not counting those delivered and not yet acked) and how
many consumers it has, for the operator console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mediacraft.shared.messages.envelope import Envelope
from mediacraft.shared.topology import QueueSpec


@dataclass(frozen=True)
class RawMessage:
    """One message taken off a queue, body untouched."""

    body: bytes
    queue: str
    exchange: str
    routing_key: str
    redelivered: bool = False
    headers: dict[str, Any] = field(default_factory=dict)

    def envelope(self) -> Envelope:
        """The body as an envelope; InvalidInput when it is not one."""
        return Envelope.from_bytes(self.body)


@dataclass(frozen=True)
class QueueDepth:
    """A queue's backlog: messages ready for delivery, and its consumers."""

    ready: int
    consumers: int


def check_gettable(spec: QueueSpec | None, queue: str) -> None:
    """Refuse `get` where RabbitMQ refuses basic.get."""
    if spec is not None and spec.single_active_consumer:
        raise ValueError(f"{queue} is a single-active-consumer queue: RabbitMQ refuses basic.get on it")
