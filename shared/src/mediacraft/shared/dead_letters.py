"""List and replay the messages parked in `dead.letters`.

RabbitMQ has no way to read a queue without taking messages off it, so listing takes each message
off the head and puts it back at the tail with a scan mark, until the marked first one comes round
again: one full turn, order kept. Replaying sends a parked message back to the queue it came from
through the redeliver exchange. A parked job is not re-run as it was: its task is failed (if the
scheduler has not done so already) and retried from scratch with the same parameters, so the
attempt numbering and quotas stay the scheduler's.

Bus tooling rather than a service's logic, so it lives here: the scheduler's `dead-letters`
command and the gateway's operator console both use it, over either bus adapter (both offer `get`
and `publish_raw` beside the port, `mediacraft.shared.adapters.bus.raw`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mediacraft.shared.adapters.bus.outcomes import (
    ORIGIN_EXCHANGE_HEADER,
    ORIGIN_KEY_HEADER,
    app_headers,
)
from mediacraft.shared.adapters.bus.raw import RawMessage
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.messages import Envelope, JobFailed, RetryTask, RunJob
from mediacraft.shared.topology import (
    COMMANDS,
    DEAD_LETTERS,
    EVENTS,
    REASON_HEADER,
    REDELIVER,
    RETRIES_HEADER,
    SCHEDULER_KEY,
    TARGET_HEADER,
)

SCAN_HEADER = "x-mc-scan"
JOB_DEAD_LETTERED = "job_dead_lettered"


class RawBus(Protocol):
    """What the tool needs beside the port: both bus adapters offer `get` and `publish_raw`."""

    async def get(self, queue: str) -> RawMessage | None: ...

    async def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
    ) -> None: ...

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
    ) -> None: ...


@dataclass(frozen=True)
class Parked:
    """One parked message as an operator sees it."""

    message_id: str | None
    type: str | None
    task_id: str | None
    queue: str | None
    reason: str
    deaths: int
    raw: RawMessage = field(repr=False, compare=False)

    def line(self) -> str:
        """One line for a terminal."""
        return "\t".join(
            str(x)
            for x in (
                self.message_id or "-",
                self.type or "(not an envelope)",
                self.task_id or "-",
                self.queue or "-",
                self.deaths,
                self.reason or "-",
            )
        )


@dataclass
class ReplayReport:
    """What a replay did."""

    replayed: list[Parked] = field(default_factory=list)
    jobs_restarted: list[str] = field(default_factory=list)
    kept: int = 0
    unreplayable: list[Parked] = field(default_factory=list)


def describe(raw: RawMessage) -> Parked:
    """Read what a parked message is, where it came from and why it was parked."""
    headers = raw.headers
    deaths = headers.get("x-death") or []
    first = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
    reason = str(headers.get(REASON_HEADER) or first.get("reason") or headers.get("x-first-death-reason") or "")
    queue = headers.get(TARGET_HEADER) or first.get("queue") or headers.get("x-first-death-queue")
    message_id: str | None
    type_: str | None
    task_id: str | None
    try:
        envelope = raw.envelope()
        message_id, type_, task_id = envelope.message_id, envelope.type, envelope.correlation_id
    except InvalidInput:
        message_id = type_ = task_id = None
    count = sum(int(d.get("count", 1)) for d in deaths if isinstance(d, dict))
    return Parked(message_id, type_, task_id, None if queue is None else str(queue), reason, count, raw)


async def list_parked(bus: RawBus, *, limit: int = 1000) -> list[Parked]:
    """Every parked message (up to `limit`), oldest first, left where it was."""
    found: list[Parked] = []

    async def keep(parked: Parked) -> bool:
        found.append(parked)
        return False

    await _turn(bus, keep, limit=limit)
    return found


async def replay(bus: RawBus, *, message_ids: Iterable[str] | None = None, limit: int = 1000) -> ReplayReport:
    """Replay the parked messages with these ids (all when None); the rest stay parked."""
    wanted = None if message_ids is None else set(message_ids)
    report = ReplayReport()

    async def visit(parked: Parked) -> bool:
        if wanted is not None and parked.message_id not in wanted:
            report.kept += 1
            return False
        if parked.type == RunJob.TYPE:
            await _restart_job(bus, parked)
            report.jobs_restarted.append(parked.task_id or "")
        elif parked.queue:
            await _send_back(bus, parked)
        else:
            report.unreplayable.append(parked)  # nowhere to send it: it stays parked
            return False
        report.replayed.append(parked)
        return True

    await _turn(bus, visit, limit=limit)
    return report


async def _turn(bus: RawBus, visit: Callable[[Parked], Awaitable[bool]], *, limit: int) -> None:
    """One turn through dead.letters; a message that `visit` did not take is put back at the tail.

    `get` has already removed a message when it returns, so each one is handled or put back before
    the next is taken: a crash can cost at most the one message in hand.
    """
    mark = uuid.uuid4().hex
    seen = 0
    while seen < limit:
        raw = await bus.get(DEAD_LETTERS)
        if raw is None:
            return
        marked = raw.headers.get(SCAN_HEADER) == mark
        if not marked:
            seen += 1
            if await visit(describe(raw)):
                continue
        await bus.publish_raw("", DEAD_LETTERS, raw.body, headers={**raw.headers, SCAN_HEADER: mark})
        if marked:
            return


async def _send_back(bus: RawBus, parked: Parked) -> None:
    assert parked.queue is not None
    headers = {
        k: v
        for k, v in app_headers(parked.raw.headers).items()
        if k not in (REASON_HEADER, SCAN_HEADER, RETRIES_HEADER, TARGET_HEADER)
    }
    headers.setdefault(ORIGIN_EXCHANGE_HEADER, parked.raw.exchange)
    headers.setdefault(ORIGIN_KEY_HEADER, parked.raw.routing_key)
    headers[TARGET_HEADER] = parked.queue
    await bus.publish_raw(REDELIVER, "", parked.raw.body, headers=headers)


async def _restart_job(bus: RawBus, parked: Parked) -> None:
    job = parked.raw.envelope().open()
    assert isinstance(job, RunJob)
    failed = JobFailed(
        task_id=job.task_id,
        attempt=job.attempt,
        code=JOB_DEAD_LETTERED,
        message="The task could not be processed: its job failed repeatedly and was set aside.",
        retryable=False,
    )
    # in the inbox's order: the failure (ignored if the scheduler already recorded it), then the retry
    await bus.publish(EVENTS, JobFailed.TYPE, Envelope.wrap(failed, correlation_id=job.task_id))
    again = RetryTask(task_id=job.task_id, user_id=job.user_id)
    await bus.publish(COMMANDS, SCHEDULER_KEY, Envelope.wrap(again, correlation_id=job.task_id))
