"""What the operator console does, below its routes: find tasks, act on them, pools, dead letters, quotas.

Cancel and retry take the user's own durable path (`mediacraft.gateway.controls`: recorded on the
task, then published; the scheduler's reconcile carries out a request whose message was lost), on
behalf of the task's owner. Re-prioritising and a quota change are commands to the scheduler; a
quota change is written to the store first (`mediacraft.shared.operator_records`), so it holds
when its message is lost and after a scheduler restart. Every action is logged with the operator.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, TypeGuard

from pydantic import ValidationError

from mediacraft.gateway import controls
from mediacraft.gateway.console.auth import Operator
from mediacraft.gateway.console.views import detail
from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.adapters.bus.raw import QueueDepth
from mediacraft.shared.dead_letters import Parked, RawBus, ReplayReport, list_parked, replay
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import ApplyQuotas, PrioritiseTask
from mediacraft.shared.operator_records import POOLS_RECORD, QUOTAS_RECORD, PoolsSnapshot, QuotaOverrides
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.tasks import POOL_OF_TYPE, Page, Task, TaskStatus, TaskType
from mediacraft.shared.topology import COMMANDS, DEAD_LETTERS, POOLS, SCHEDULER_INBOX, SCHEDULER_KEY, job_queue

log = get_logger("mediacraft.gateway.console")

NOT_SENT = "Recorded; the scheduler has not confirmed it yet and will apply it at its next reconcile"
PRIORITY_NOT_SENT = "The scheduler could not be reached; try again"
MAX_PARKED = 1000
# a snapshot older than this says the scheduler is silent (none active, or it cannot write)
STALE_AFTER_SECONDS = 15.0

_TURNS = "_console_dead_letter_turns"


def _turns(ctx: GatewayContext) -> asyncio.Lock:
    """One turn through dead.letters at a time per gateway: two turns must not interleave (each
    would take the other's marked messages for strangers). Kept on the context, so on its loop.
    Two replicas listing at the same moment may each show a message twice; none is lost."""
    lock: asyncio.Lock | None = getattr(ctx, _TURNS, None)
    if lock is None:
        lock = asyncio.Lock()
        setattr(ctx, _TURNS, lock)
    return lock


# --- tasks ------------------------------------------------------------------------------------------


async def search(
    ctx: GatewayContext,
    *,
    task_id: str | None,
    user_id: str | None,
    statuses: list[TaskStatus] | None,
    task_type: TaskType | None,
    error_code: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """Tasks of every user matching the filters, newest first."""
    return await ctx.store.search_tasks(
        task_id=task_id, user_id=user_id, statuses=statuses, task_type=task_type, error_code=error_code,
        cursor=cursor, limit=limit,
    )  # fmt: skip


async def task(ctx: GatewayContext, task_id: str) -> Task:
    """One task of any user; 404 when there is none."""
    found = await ctx.store.get(task_id)
    if found is None:
        raise ApiError("not_found", "Task not found")
    return found


async def record(ctx: GatewayContext, task_id: str) -> dict[str, Any]:
    """One task's full record: the document, its history from the scheduler, the worker running it."""
    found = await task(ctx, task_id)
    worker = await worker_of(ctx, task_id)
    events = await ctx.store.list_history(task_id)
    return detail(found, now=ctx.clock.now(), worker=worker, events=events)


async def cancel(ctx: GatewayContext, operator: Operator, task_id: str) -> controls.ControlAnswer:
    """Cancel any task the way its owner would."""
    owner = (await task(ctx, task_id)).user_id
    answer = await controls.cancel(ctx, owner, task_id)
    log.info("console.cancel", operator=operator.name, task_id=task_id, user_id=owner, sent=answer.notice is None)
    return answer


async def retry(ctx: GatewayContext, operator: Operator, task_id: str) -> controls.ControlAnswer:
    """Retry any failed or cancelled task the way its owner would."""
    owner = (await task(ctx, task_id)).user_id
    answer = await controls.retry(ctx, owner, task_id)
    log.info("console.retry", operator=operator.name, task_id=task_id, user_id=owner, sent=answer.notice is None)
    return answer


async def prioritise(ctx: GatewayContext, operator: Operator, task_id: str) -> Task:
    """Ask the scheduler to start a waiting task before every other; 409 when it is not waiting."""
    found = await task(ctx, task_id)
    if found.status is not TaskStatus.QUEUED:
        raise ApiError("invalid_state", f"Only a waiting task can be moved to the front; this one is {found.status}")
    sent = await ctx.publish(COMMANDS, SCHEDULER_KEY, PrioritiseTask(task_id=task_id), correlation_id=task_id)
    log.info("console.prioritise", operator=operator.name, task_id=task_id, sent=sent)
    if not sent:
        raise ApiError("unavailable", PRIORITY_NOT_SENT, headers={"Retry-After": "5"})
    return found


# --- pools ------------------------------------------------------------------------------------------


async def queue_depths(bus: Bus) -> dict[str, dict[str, int] | None]:
    """Ready messages and consumers of each job queue, the scheduler inbox and dead.letters, as the
    broker counts them now (None for a queue it did not answer about)."""
    depth = getattr(bus, "queue_depth", None)
    names = [job_queue(pool) for pool in POOLS] + [SCHEDULER_INBOX, DEAD_LETTERS]
    found: dict[str, dict[str, int] | None] = dict.fromkeys(names)
    if depth is None:
        return found
    for name in names:
        try:
            counted: QueueDepth = await depth(name)
        except Exception as exc:  # the broker is down or slow: the page says so, the rest still shows
            log.warning("console.queue_depth_failed", queue=name, error=repr(exc))
            continue
        found[name] = {"ready": counted.ready, "consumers": counted.consumers}
    return found


async def pools(ctx: GatewayContext) -> dict[str, Any]:
    """The active scheduler's last pool figures, with their age, the task types of each pool, and
    what the broker holds for each (jobs not yet taken, consumers: the worker runtimes connected)."""
    record = await ctx.store.get_record(POOLS_RECORD)
    types = {pool: sorted(t.value for t, p in POOL_OF_TYPE.items() if p == pool) for pool in POOLS}
    queues = await queue_depths(ctx.bus)
    broker = {"queues": queues}
    if record is None:
        rows = [{"pool": p, "task_types": types[p], "queue": queues[job_queue(p)]} for p in POOLS]
        return {"pools": rows, "as_of": None, "stale": True, **broker}
    snapshot = PoolsSnapshot.model_validate(record)
    age = (ctx.clock.now() - snapshot.written_at).total_seconds()
    return {
        **broker,
        "pools": [
            {**p.model_dump(mode="json"), "task_types": types.get(p.pool, []), "queue": queues.get(job_queue(p.pool))}
            for p in snapshot.pools
        ],
        "as_of": snapshot.written_at.isoformat(),
        "age_seconds": round(max(0.0, age), 1),
        "stale": age > STALE_AFTER_SECONDS,
        "running_total": snapshot.running_total,
        "waiting_total": snapshot.waiting_total,
        "quotas_in_effect": snapshot.quotas,
    }


async def worker_of(ctx: GatewayContext, task_id: str) -> str | None:
    """The worker the scheduler last heard running this task, if it is running."""
    record = await ctx.store.get_record(POOLS_RECORD)
    if record is None:
        return None
    return PoolsSnapshot.model_validate(record).workers_by_task.get(task_id)


# --- quotas -----------------------------------------------------------------------------------------


async def quotas(ctx: GatewayContext) -> dict[str, Any]:
    """The operator's overrides and, from the scheduler's last figures, the quotas in effect."""
    record = await ctx.store.get_record(QUOTAS_RECORD)
    overrides = QuotaOverrides.model_validate(record) if record else QuotaOverrides()
    figures = await ctx.store.get_record(POOLS_RECORD)
    in_effect = PoolsSnapshot.model_validate(figures).quotas if figures else None
    return {"overrides": overrides.model_dump(mode="json"), "in_effect": in_effect, "pools": list(POOLS)}


async def set_quotas(ctx: GatewayContext, operator: Operator, body: dict[str, Any]) -> dict[str, Any]:
    """Store new overrides (replacing the old ones), then tell the scheduler; 422 for a bad value."""
    try:
        overrides = QuotaOverrides.model_validate({**body, "updated_at": ctx.clock.now(), "updated_by": operator.name})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ApiError("invalid_input", f"Invalid quotas: {problems}") from None
    await ctx.store.put_record(QUOTAS_RECORD, overrides.model_dump(mode="json"))
    sent = await ctx.publish(COMMANDS, SCHEDULER_KEY, ApplyQuotas())
    log.info("console.quotas", operator=operator.name, sent=sent, **overrides.model_dump(exclude={"updated_at"}))
    return {"overrides": overrides.model_dump(mode="json"), "sent": sent, "notice": None if sent else NOT_SENT}


# --- dead letters -----------------------------------------------------------------------------------


def raw_bus(bus: Bus) -> RawBus:
    """The bus as the dead-letter tool needs it (both adapters offer `get` and `publish_raw`)."""
    if not _reads_raw(bus):
        raise ApiError("unavailable", "This bus cannot read parked messages")
    return bus


def _reads_raw(bus: Bus) -> TypeGuard[RawBus]:
    return callable(getattr(bus, "get", None)) and callable(getattr(bus, "publish_raw", None))


def parked_view(parked: Parked) -> dict[str, Any]:
    """One parked message as the console lists it (its reason from x-death or the bus's header)."""
    death = next(iter(parked.raw.headers.get("x-death") or []), None)
    when = death.get("time") if isinstance(death, dict) else None
    return {
        "message_id": parked.message_id,
        "type": parked.type,
        "task_id": parked.task_id,
        "queue": parked.queue,
        "deaths": parked.deaths,
        "reason": parked.reason,
        "exchange": parked.raw.exchange,
        "routing_key": parked.raw.routing_key,
        "died_at": when.isoformat() if isinstance(when, datetime) else when,
    }


async def dead_letters(ctx: GatewayContext) -> list[dict[str, Any]]:
    """Every parked message (up to MAX_PARKED), oldest first, left where it was."""
    async with _turns(ctx):
        found = await list_parked(raw_bus(ctx.bus), limit=MAX_PARKED)
    return [parked_view(p) for p in found]


async def replay_dead_letters(ctx: GatewayContext, operator: Operator, message_ids: list[str]) -> ReplayReport:
    """Send the named parked messages back where they came from (a parked job: its task is retried)."""
    async with _turns(ctx):
        report = await replay(raw_bus(ctx.bus), message_ids=message_ids, limit=MAX_PARKED)
    log.info(
        "console.dead_letters_replayed", operator=operator.name, asked=message_ids,
        replayed=[p.message_id for p in report.replayed], unreplayable=[p.message_id for p in report.unreplayable],
    )  # fmt: skip
    return report
