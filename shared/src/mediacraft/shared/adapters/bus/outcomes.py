"""The port's handler outcome rules, decided once for both bus adapters.

An adapter runs the handler, asks `decide` what the outcome is, and carries it out with its own
broker calls: ack, publish to a delay queue then ack, publish to dead letters then ack, publish
back to the queue through the redeliver exchange then ack (a release), or nack with requeue. The
header helpers build what the retry, release and dead-letter copies carry, so that a delivery
looks the same whichever adapter produced it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mediacraft.shared.errors import InvalidInput, MediaCraftError, RetryableError
from mediacraft.shared.ports.bus import Release
from mediacraft.shared.topology import (
    REASON_HEADER,
    REDELIVER,
    RETRIES_HEADER,
    TARGET_HEADER,
    QueueSpec,
    Topology,
)

ORIGIN_EXCHANGE_HEADER = "x-mc-exchange"
ORIGIN_KEY_HEADER = "x-mc-routing-key"
DELIVERY_COUNT_HEADER = "x-delivery-count"
# set by the broker on requeue and dead-lettering; a copy we publish must not carry stale ones
BROKER_HEADERS = frozenset(
    {
        DELIVERY_COUNT_HEADER,
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
MAX_REASON = 1000


class Action(enum.Enum):
    ACK = "ack"
    RETRY = "retry"
    DEAD = "dead"
    REQUEUE = "requeue"
    RELEASE = "release"


@dataclass(frozen=True)
class Outcome:
    action: Action
    delay_ms: int | None = None
    reason: str = ""


ACK = Outcome(Action.ACK)
REQUEUE = Outcome(Action.REQUEUE)
RELEASE = Outcome(Action.RELEASE)


def decide(error: BaseException | None, *, topology: Topology, spec: QueueSpec | None, redelivered: bool) -> Outcome:
    """The outcome of a delivery whose handler raised `error` (None: it returned)."""
    if error is None:
        return ACK
    if isinstance(error, Release):
        # a fresh copy through the redeliver exchange: a requeue would count toward the delivery limit
        return RELEASE if spec is not None and spec.redeliverable else REQUEUE
    if isinstance(error, InvalidInput):
        return Outcome(Action.DEAD, reason=reason_for(error))
    if isinstance(error, RetryableError) and can_retry(topology, spec):
        return Outcome(Action.RETRY, delay_ms=topology.delay_for(error.delay), reason=reason_for(error))
    if spec is not None and spec.delivery_limit is not None:
        return REQUEUE  # the broker counts deliveries and parks the message at the limit
    if redelivered:
        return Outcome(Action.DEAD, reason=f"failed again after a redelivery: {reason_for(error)}")
    return REQUEUE


def can_retry(topology: Topology, spec: QueueSpec | None) -> bool:
    """A delay queue can bring a message back only to a topology queue bound to the redeliver exchange."""
    return bool(topology.retry_delays_ms) and spec is not None and spec.redeliverable


def reason_for(error: BaseException) -> str:
    """`code: message` of a MediaCraft error, `Type: text` of anything else, bounded in size."""
    if isinstance(error, MediaCraftError):
        text = f"{error.code}: {error.message}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:MAX_REASON]


def app_headers(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The headers without the ones the broker manages."""
    return {k: v for k, v in (headers or {}).items() if k not in BROKER_HEADERS}


def retry_headers(headers: Mapping[str, Any] | None, *, queue: str, exchange: str, routing_key: str) -> dict[str, Any]:
    """Headers of the copy sent to a delay queue: where to come back to, and one more retry."""
    out = app_headers(headers)
    out.setdefault(ORIGIN_EXCHANGE_HEADER, exchange)
    out.setdefault(ORIGIN_KEY_HEADER, routing_key)
    out[TARGET_HEADER] = queue
    out[RETRIES_HEADER] = retries_of(headers) + 1
    return out


def release_headers(
    headers: Mapping[str, Any] | None, *, queue: str, exchange: str, routing_key: str
) -> dict[str, Any]:
    """Headers of the copy a release sends back: where it came from, and the queue it returns to."""
    out = app_headers(headers)
    out.setdefault(ORIGIN_EXCHANGE_HEADER, exchange)
    out.setdefault(ORIGIN_KEY_HEADER, routing_key)
    out[TARGET_HEADER] = queue
    return out


def dead_headers(
    headers: Mapping[str, Any] | None, *, queue: str, exchange: str, routing_key: str, reason: str
) -> dict[str, Any]:
    """Headers of the copy parked in dead letters: the reason, and the queue a replay goes back to."""
    out = app_headers(headers)
    out.setdefault(ORIGIN_EXCHANGE_HEADER, exchange)
    out.setdefault(ORIGIN_KEY_HEADER, routing_key)
    out[TARGET_HEADER] = queue
    out[REASON_HEADER] = reason
    return out


def retries_of(headers: Mapping[str, Any] | None) -> int:
    """Trips through a delay queue so far."""
    return _as_int((headers or {}).get(RETRIES_HEADER))


def delivery_count_of(headers: Mapping[str, Any] | None, redelivered: bool) -> int:
    """Earlier deliveries: exact on quorum queues (x-delivery-count), at least 1 when redelivered."""
    count = _as_int((headers or {}).get(DELIVERY_COUNT_HEADER))
    return max(count, 1 if redelivered else 0)


def origin_of(headers: Mapping[str, Any] | None, exchange: str, routing_key: str) -> tuple[str, str]:
    """Where a message was first published: a retried one arrives through the redeliver exchange."""
    if exchange != REDELIVER or not headers:
        return exchange, routing_key
    return str(headers.get(ORIGIN_EXCHANGE_HEADER, exchange)), str(headers.get(ORIGIN_KEY_HEADER, routing_key))


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
