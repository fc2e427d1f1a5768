"""The operator console's commands: quotas changed at run time, and a waiting task moved to the front.

Quotas: the console writes the overrides to the store's `quotas` record, then sends ApplyQuotas.
The scheduler reads the record (on the command, on every takeover, and at each periodic reconcile,
so neither a lost command nor a restart loses a change) and lays it over the configured quotas;
the dispatch that follows the command already obeys it. A record that cannot be read as overrides
is ignored with a warning: the configured quotas stay.

Priority: PrioritiseTask moves a waiting task to the front of the fair order (its user's turn comes
next and it leaves first in its user's line); quotas still apply. It lives in memory only: a
scheduler that takes over rebuilds the line in submission order.
"""

from __future__ import annotations

from pydantic import ValidationError

from mediacraft.scheduler.lifecycle import Context
from mediacraft.scheduler.quotas import Quotas
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import ApplyQuotas, PrioritiseTask
from mediacraft.shared.operator_records import QUOTAS_RECORD, QuotaOverrides
from mediacraft.shared.ports.stores import TaskStore

log = get_logger("mediacraft.scheduler.operator")


def effective_quotas(configured: Quotas, overrides: QuotaOverrides) -> Quotas:
    """The configured quotas with the operator's overrides laid over them."""
    return Quotas(
        per_user=configured.per_user if overrides.per_user is None else overrides.per_user,
        total=configured.total if overrides.total is None else overrides.total,
        per_type=configured.per_type,
        per_pool={**configured.per_pool, **overrides.per_pool},
    )


async def load_overrides(store: TaskStore) -> QuotaOverrides:
    """The stored overrides; none when the record is missing or unreadable."""
    record = await store.get_record(QUOTAS_RECORD)
    if record is None:
        return QuotaOverrides()
    try:
        return QuotaOverrides.model_validate(record)
    except ValidationError as exc:
        log.warning("scheduler.quota_record_ignored", error=str(exc))
        return QuotaOverrides()


async def apply_stored_quotas(ctx: Context) -> bool:
    """Read the overrides and apply them from the next dispatch on; True when the quotas changed."""
    quotas = effective_quotas(ctx.rules.quotas, await load_overrides(ctx.store))
    if quotas == ctx.state.quotas:
        return False
    ctx.state.quotas = quotas
    log.info("scheduler.quotas_applied", per_user=quotas.per_user, total=quotas.total, per_pool=dict(quotas.per_pool))
    return True


async def on_apply_quotas(cmd: ApplyQuotas, ctx: Context) -> None:
    """The console changed the quotas record."""
    await apply_stored_quotas(ctx)


async def on_prioritise(cmd: PrioritiseTask, ctx: Context) -> None:
    """Move a waiting task to the front; a task not waiting here (started, ended, unknown) is left alone."""
    moved = ctx.state.waiting.to_front(cmd.task_id)
    log.info("scheduler.task_prioritised" if moved else "scheduler.prioritise_ignored", task_id=cmd.task_id)
