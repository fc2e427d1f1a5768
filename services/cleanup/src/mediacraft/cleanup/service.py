"""The cleanup service: one pass under the replica lease, or a pass every interval until stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mediacraft.cleanup import backup
from mediacraft.cleanup.lease import LeaseLost, PassLease, default_holder
from mediacraft.cleanup.metrics import CleanupMetrics
from mediacraft.cleanup.report import Outcome, PassReport
from mediacraft.cleanup.settings import Settings
from mediacraft.cleanup.sweep import Sweep
from mediacraft.shared.clock import Clock
from mediacraft.shared.logging import get_logger

log = get_logger("mediacraft.cleanup")


def sqlite_file(store: Any) -> Path | None:
    """The file of a SQLite store on disk; None for MongoDB or an in-memory database."""
    from mediacraft.shared.adapters.store.sqlite import SqliteStore

    if not isinstance(store, SqliteStore) or store.path == ":memory:" or store.path.startswith("file:"):
        return None
    return Path(store.path)


class CleanupService:
    """Runs passes; any number of replicas may share one store, one of them works at a time."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Any,
        objects: Any,
        clock: Clock,
        bus: Any | None = None,
        metrics: CleanupMetrics | None = None,
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.objects = objects
        self.bus = bus
        self.clock = clock
        self.metrics = metrics or CleanupMetrics(top_users=settings.storage_top_users)
        self.holder = holder or default_holder()
        self.last_report: PassReport | None = None

    async def run_once(self, *, dry_run: bool | None = None) -> PassReport:
        """One pass, unless another replica is running one (then a report with outcome `skipped`).

        A dry run writes nothing, so it needs no lease and may run beside a real pass.
        """
        dry = self.settings.cleanup_dry_run if dry_run is None else dry_run
        lease = None if dry else self._lease()
        if lease is not None and not await lease.acquire():
            report = PassReport(dry_run=dry, started_at=self.clock.now(), holder=self.holder, outcome=Outcome.SKIPPED)
            log.info("cleanup.pass_skipped", holder=self.holder, why="another replica holds the cleanup lease")
            return self._finish(report)
        sweep = Sweep(
            store=self.store, objects=self.objects, bus=self.bus, clock=self.clock,
            settings=self.settings, dry_run=dry, lease=lease,
        )  # fmt: skip
        log.info("cleanup.pass_started", holder=self.holder, dry_run=dry)
        try:
            report = await sweep.run()
        except LeaseLost as exc:
            sweep.report.outcome = Outcome.LEASE_LOST
            sweep.report.errors.append(exc.message)
            sweep.report.finished_at = self.clock.now()
            log.warning("cleanup.lease_lost", holder=self.holder, error=exc.message)
            return self._finish(sweep.report)
        except Exception:
            sweep.report.outcome = Outcome.FAILED
            sweep.report.finished_at = self.clock.now()
            self._finish(sweep.report)
            raise
        else:
            if not dry:
                await self._back_up()
        finally:
            if lease is not None:
                await lease.release()
        return self._finish(report)

    async def _back_up(self) -> None:
        """A store snapshot when one is due (under the pass's lease); a failure is logged and counted."""
        store_file = sqlite_file(self.store)
        if store_file is None:
            return
        try:
            if not await backup.due(self.objects, now=self.clock.now(), interval=self.settings.backup_interval):
                return
            info = await backup.back_up(store_file, self.objects, clock=self.clock, keep=self.settings.backup_keep)
        except Exception:  # the object store or the disk failed: the next pass tries again
            log.exception("cleanup.backup_failed", holder=self.holder)
            self.metrics.backups.labels("failed").inc()
            return
        self.metrics.backups.labels("written").inc()
        self.metrics.last_backup.set((info.modified or self.clock.now()).timestamp())

    async def run_forever(self, stop: asyncio.Event) -> None:
        """A pass every `cleanup_interval` until `stop` is set; a failed pass is logged, not fatal."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # the store or object store was down: try again next interval
                log.exception("cleanup.pass_failed", holder=self.holder)
            await self._wait(stop)

    async def _wait(self, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(self.settings.cleanup_interval.total_seconds()))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeper, stopper):
                waiter.cancel()

    def _lease(self) -> PassLease:
        return PassLease(
            self.store,
            name=self.settings.cleanup_lease_name,
            holder=self.holder,
            ttl=self.settings.cleanup_lease_ttl,
            clock=self.clock,
        )

    def _finish(self, report: PassReport) -> PassReport:
        self.last_report = report
        self.metrics.observe(report, quota_bytes=self.settings.user_storage_quota_bytes)
        if report.ran:
            level = log.info if report.outcome is Outcome.COMPLETED else log.warning
            level("cleanup.pass_finished", holder=self.holder, **report.summary())
        return report
