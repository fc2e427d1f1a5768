"""The bus topology of ARCHITECTURE.md as data, declared by every bus adapter the same way.

Delay queues are classic durable queues with a queue-level TTL: RabbitMQ expires messages
head-first, so a queue must hold one delay only. When a delay is over the message is dead-lettered
to `mediacraft.redeliver`, a headers exchange to which every consumed queue is bound by its own
name (`x-mc-target`), so a message returns to the queue it came from: the scheduler inbox for task
retries, a job queue for a job retried by its worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMMANDS = "mediacraft.commands"
JOBS = "mediacraft.jobs"
EVENTS = "mediacraft.events"
RETRY = "mediacraft.retry"
REDELIVER = "mediacraft.redeliver"
CONTROL = "mediacraft.control"
DEAD = "mediacraft.dead"

SCHEDULER_INBOX = "scheduler.inbox"
IDENTITY_INBOX = "identity.inbox"
DEAD_LETTERS = "dead.letters"
SCHEDULER_KEY = "scheduler"
POOLS = ("watermark", "merge", "generate")

TARGET_HEADER = "x-mc-target"
REASON_HEADER = "x-mc-dead-reason"
RETRIES_HEADER = "x-mc-retries"


def job_queue(pool: str) -> str:
    return f"jobs.{pool}"


def delay_queue(delay_ms: int) -> str:
    return f"retry.{delay_ms}"


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    type: str  # direct | topic | fanout | headers


@dataclass(frozen=True)
class QueueSpec:
    name: str
    quorum: bool = False
    single_active_consumer: bool = False
    delivery_limit: int | None = None  # deliveries of one message before it is parked (>= 1)
    message_ttl_ms: int | None = None
    dead_letter_exchange: str | None = None
    bindings: tuple[tuple[str, str], ...] = ()  # (exchange, routing key)
    redeliverable: bool = True  # bound to REDELIVER by its own name

    def arguments(self) -> dict[str, Any]:
        """RabbitMQ x-arguments for this queue."""
        args: dict[str, Any] = {}
        if self.quorum:
            args["x-queue-type"] = "quorum"
            # at-least-once dead-lettering needs reject-publish overflow (RabbitMQ >= 3.10)
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
        if self.single_active_consumer:
            args["x-single-active-consumer"] = True
        if self.delivery_limit is not None:
            # RabbitMQ's x-delivery-limit counts redeliveries: N deliveries allow N - 1 of them
            args["x-delivery-limit"] = max(0, self.delivery_limit - 1)
        if self.message_ttl_ms is not None:
            args["x-message-ttl"] = self.message_ttl_ms
        if self.dead_letter_exchange is not None:
            args["x-dead-letter-exchange"] = self.dead_letter_exchange
        return args


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[ExchangeSpec, ...]
    queues: tuple[QueueSpec, ...]
    retry_delays_ms: tuple[int, ...] = field(default=())

    def queue(self, name: str) -> QueueSpec:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)

    def delay_for(self, seconds: float | None) -> int:
        """The delay step to use for a wish of `seconds`: the smallest step at least that long."""
        if not self.retry_delays_ms:
            raise ValueError("no retry delays configured")
        wanted = 0 if seconds is None else int(seconds * 1000)
        for step in sorted(self.retry_delays_ms):
            if step >= wanted:
                return step
        return max(self.retry_delays_ms)


def build_topology(retry_delays_ms: tuple[int, ...] = (60_000, 300_000, 900_000), delivery_limit: int = 5) -> Topology:
    """The whole topology of ARCHITECTURE.md for the given retry steps and delivery limit."""
    exchanges = (
        ExchangeSpec(COMMANDS, "direct"),
        ExchangeSpec(JOBS, "direct"),
        ExchangeSpec(EVENTS, "topic"),
        ExchangeSpec(RETRY, "direct"),
        ExchangeSpec(REDELIVER, "headers"),
        ExchangeSpec(CONTROL, "fanout"),
        ExchangeSpec(DEAD, "fanout"),
    )
    queues: list[QueueSpec] = [
        QueueSpec(
            SCHEDULER_INBOX,
            quorum=True,
            single_active_consumer=True,
            delivery_limit=delivery_limit,
            dead_letter_exchange=DEAD,
            bindings=((COMMANDS, SCHEDULER_KEY), (EVENTS, "job.*")),
        ),
        QueueSpec(
            IDENTITY_INBOX,
            quorum=True,
            delivery_limit=delivery_limit,
            dead_letter_exchange=DEAD,
            bindings=((EVENTS, "user.*"),),
        ),
        QueueSpec(DEAD_LETTERS, bindings=((DEAD, ""),), redeliverable=False),
    ]
    for pool in POOLS:
        queues.append(
            QueueSpec(
                job_queue(pool),
                quorum=True,
                delivery_limit=delivery_limit,
                dead_letter_exchange=DEAD,
                bindings=((JOBS, pool),),
            )
        )
    for ms in retry_delays_ms:
        queues.append(
            QueueSpec(
                delay_queue(ms),
                message_ttl_ms=ms,
                dead_letter_exchange=REDELIVER,
                bindings=((RETRY, str(ms)),),
                redeliverable=False,
            )
        )
    return Topology(tuple(exchanges), tuple(queues), tuple(retry_delays_ms))
