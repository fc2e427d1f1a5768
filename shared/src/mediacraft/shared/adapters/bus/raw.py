"""Bytes-level access that both bus adapters offer beside the port, for dead-letter tooling and tests.

`publish_raw(exchange, routing_key, body, headers=..., mandatory=...)` sends bytes as they are
(a replay of a parked message whose body may not be an envelope), and `get(queue)` takes one
message off a queue's head without a consumer. RabbitMQ refuses basic.get on single-active-consumer
quorum queues, so both adapters refuse `get` on such a queue.
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


def check_gettable(spec: QueueSpec | None, queue: str) -> None:
    """Refuse `get` where RabbitMQ refuses basic.get."""
    if spec is not None and spec.single_active_consumer:
        raise ValueError(f"{queue} is a single-active-consumer queue: RabbitMQ refuses basic.get on it")
