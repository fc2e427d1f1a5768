"""One cleanup pass over the task store and the object store.

Steps, in this order:
1. scan every task once (a page at a time) and decide, with `expiry.decide`, what is due;
2. act on the due tasks: a finished task is first marked `expired` with a compare-and-set on the
   version the scan read, then its files are deleted, so that a retry or a submit that wins the
   race keeps its files; a draft is claimed the same way, then its files and its record go;
3. list uploads/ and results/, tally storage usage and find orphans (`orphans.orphan_reason`);
   an orphan whose task id was unknown to the scan is checked against the store again first
   (its task may have been created since) and then deleted;
4. abort multipart uploads started before the cut-off;
5. write each user's usage to their record (metadata key `storage`, see usage.py);
6. remove anonymous identities not seen for longer than the cookie lifetime plus a grace, with
   their expired task records, once every task of theirs has expired (the store checks it in the
   delete); their files went with retention, and their cookie cannot be used any more.

Files deleted after a task was marked expired are never lost track of: if deleting fails, the
objects of an expired task are orphans for the next pass. A dry run does steps 1 to 4 without a
single write and reports what it would remove.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from mediacraft.cleanup.expiry import Action, Decision, ExpiryPolicy, decide, expired_message
from mediacraft.cleanup.lease import PassLease
from mediacraft.cleanup.orphans import TaskIndex, orphan_reason
from mediacraft.cleanup.reasons import Reason
from mediacraft.cleanup.report import Kind, PassReport, Removal, Skip
from mediacraft.cleanup.settings import Settings
from mediacraft.cleanup.usage import STORAGE_METADATA_KEY, StorageUsage, storage_record
from mediacraft.shared import transitions
from mediacraft.shared.clock import Clock
from mediacraft.shared.errors import Conflict, MediaCraftError, NotFound
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import Envelope, TaskStatusChanged
from mediacraft.shared.object_keys import AREAS, KeyOwner, parse_key, task_prefixes
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.ports.objects import ObjectInfo, ObjectStore
from mediacraft.shared.ports.stores import Store
from mediacraft.shared.tasks import DRAFT_STATUSES, Task, TaskStatus
from mediacraft.shared.topology import EVENTS
from mediacraft.shared.transitions import Transition

log = get_logger("mediacraft.cleanup")

ALL_STATUSES = tuple(TaskStatus)


@dataclass(frozen=True)
class Candidate:
    """An object the listing found to be an orphan, before the final check."""

    obj: ObjectInfo
    area: str
    reason: Reason
    owner: KeyOwner | None
    user_id: str | None


class Sweep:
    """One pass; build a new one for every pass."""

    def __init__(
        self,
        *,
        store: Store,
        objects: ObjectStore,
        bus: Bus | None,
        clock: Clock,
        settings: Settings,
        dry_run: bool,
        lease: PassLease | None = None,
    ) -> None:
        self.store = store
        self.objects = objects
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self.policy: ExpiryPolicy = settings.expiry_policy()
        self.dry_run = dry_run
        self.lease = lease
        self.report = PassReport(dry_run=dry_run, started_at=clock.now(), holder=lease.holder if lease else None)
        self._budget = settings.cleanup_max_removals

    async def run(self) -> PassReport:
        """Run every step; the report is also on `self.report` if a step raises."""
        index, due = await self._scan_tasks()
        for task, decision in due:
            await self._keep_lease()
            reason = decision.reason
            assert reason is not None  # decide() names a reason with every action but KEEP
            if decision.action is Action.EXPIRE:
                await self._expire(task, reason)
            else:
                await self._delete_draft(task, reason)
        usage, candidates = await self._scan_objects(index)
        await self._remove_orphans(candidates, index, usage)
        await self._abort_stale_uploads()
        self.report.usage = usage
        await self._record_usage(usage, index)
        if self.settings.remove_stale_users:
            await self._remove_stale_users()
        self.report.finished_at = self.clock.now()
        return self.report

    # 1. tasks

    async def _scan_tasks(self) -> tuple[TaskIndex, list[tuple[Task, Decision]]]:
        index = TaskIndex()
        due: dict[str, tuple[Task, Decision]] = {}
        now = self.clock.now()
        async for task in self._all_tasks():
            self.report.tasks_scanned += 1
            if task.task_id in due:
                continue  # listed again under the status it moved to: the compare-and-set will tell
            decision = decide(task, now, self.policy)
            if decision.action is not Action.KEEP and self._spend():
                index.add(task, handled=True)
                due[task.task_id] = (task, decision)
            else:
                index.add(task)
        return index, list(due.values())

    async def _all_tasks(self) -> AsyncIterator[Task]:
        """Every task, one status at a time in lifecycle order.

        One status per listing lets each page be read from the (status, queue order) index instead
        of sorting every task again. A task that moves forward while the scan runs is met again
        later; one the scan misses is caught by the second look before an orphan is deleted.
        """
        for status in ALL_STATUSES:
            after: str | None = None
            while page := await self.store.list_by_status([status], limit=self.settings.cleanup_page_size, after=after):
                for task in page:
                    yield task
                after = page[-1].task_id
                await self._keep_lease()

    # 2. expired tasks and abandoned drafts

    async def _expire(self, task: Task, reason: Reason) -> None:
        files = await self._task_files(task)
        if not self.dry_run:
            changes = {
                "message": expired_message(task, reason, self.policy),
                "expires_at": self.clock.now(),
                "eta_seconds": None,
                "queue_position": None,
            }
            expired = await self._claim(task, transitions.EXPIRE_FILES, changes)
            if expired is None:
                return
            await self._announce(expired, task.status)
            if not await self._delete_task_files(task):
                return
        self._removed(Kind.TASK_FILES, reason, files, task=task)

    async def _delete_draft(self, task: Task, reason: Reason) -> None:
        files = await self._task_files(task)
        if not self.dry_run:
            # a draft already expired was claimed by an earlier pass that did not finish
            if task.status in DRAFT_STATUSES:
                changes = {
                    "message": expired_message(task, reason, self.policy),
                    "expires_at": self.clock.now(),
                }
                claimed = await self._claim(task, transitions.EXPIRE_DRAFT, changes)
                if claimed is None:
                    return
                await self._announce(claimed, task.status)
            # the record goes last: while it stays, the next pass finds the claim and finishes
            if not await self._delete_task_files(task):
                return
            await self.store.delete(task.task_id)
        self._removed(Kind.DRAFT, reason, files, task=task)

    async def _claim(self, task: Task, transition: Transition, changes: dict[str, Any]) -> Task | None:
        """Compare-and-set on the version the scan read; None when the task moved on."""
        try:
            return await self.store.transition(task.task_id, transition, expected_version=task.version, changes=changes)
        except (Conflict, NotFound) as exc:
            why = f"changed since the scan ({exc.message})"
            self.report.skipped.append(Skip(task.task_id, why))
            log.info("cleanup.task_skipped", task_id=task.task_id, user_id=task.user_id, why=why)
            return None

    async def _task_files(self, task: Task) -> list[ObjectInfo]:
        files: list[ObjectInfo] = []
        for prefix in task_prefixes(task.user_id, task.task_id):
            files += [obj async for obj in self.objects.list(prefix)]
        return files

    async def _delete_task_files(self, task: Task) -> bool:
        try:
            for prefix in task_prefixes(task.user_id, task.task_id):
                await self.objects.delete_prefix(prefix)
            await self.store.delete_videos_of_task(task.task_id)  # its videos expire with their files
        except MediaCraftError as exc:
            self._error(f"deleting the files of task {task.task_id}: {exc.message}", task_id=task.task_id)
            return False
        return True

    async def _announce(self, task: Task, previous: TaskStatus) -> None:
        """Tell live clients; the record is the truth, so a lost event is only logged."""
        if self.bus is None:
            return
        event = TaskStatusChanged.of(task, previous)
        try:
            envelope = Envelope.wrap(event, correlation_id=task.task_id)
            # not mandatory: with no live view connected, no queue is bound to task.#
            await self.bus.publish(EVENTS, event.TYPE, envelope, mandatory=False)
        except Exception as exc:  # whatever the bus raises, cleanup goes on
            log.warning("cleanup.event_lost", task_id=task.task_id, error=repr(exc))

    # 3. orphans and usage

    async def _scan_objects(self, index: TaskIndex) -> tuple[StorageUsage, list[Candidate]]:
        usage = StorageUsage()
        candidates: list[Candidate] = []
        now, grace = self.clock.now(), self.settings.orphan_grace
        for area in AREAS:
            async for obj in self.objects.list(f"{area}/"):
                self.report.objects_scanned += 1
                await self._keep_lease()
                owner = parse_key(obj.key)
                user_id = _user_of(owner, index)
                reason = orphan_reason(obj, index, now=now, grace=grace)
                if reason is not None and self._spend():
                    candidates.append(Candidate(obj, area, reason, owner, user_id))
                else:
                    usage.add(area, obj.size, user_id)
        return usage, candidates

    async def _remove_orphans(self, candidates: list[Candidate], index: TaskIndex, usage: StorageUsage) -> None:
        # A task created after the scan is missing from the index: look once more before deleting.
        unknown = {c.owner.task_id for c in candidates if c.owner is not None and c.reason is Reason.ORPHAN_NO_TASK}
        late: set[str] = set()
        for task_id in sorted(unknown):
            task = await self.store.get(task_id)
            if task is not None:
                index.add(task)
                late.add(task_id)
        now, grace = self.clock.now(), self.settings.orphan_grace
        for c in candidates:
            await self._keep_lease()
            reason: Reason | None = c.reason
            user_id = c.user_id
            if c.owner is not None and c.owner.task_id in late:
                reason = orphan_reason(c.obj, index, now=now, grace=grace)
                user_id = _user_of(c.owner, index)
            removed = reason is not None and (self.dry_run or await self._delete_orphan(c))
            if not removed or self.dry_run:
                usage.add(c.area, c.obj.size, user_id)  # still stored
            if removed and reason is not None:
                owner_task = c.owner.task_id if c.owner is not None else None
                self._removed(Kind.ORPHAN, reason, [c.obj], task_id=owner_task, user_id=user_id)

    async def _delete_orphan(self, c: Candidate) -> bool:
        try:
            await self.objects.delete(c.obj.key)
        except MediaCraftError as exc:
            self._error(f"deleting orphan {c.obj.key}: {exc.message}")
            return False
        return True

    # 4. incomplete multipart uploads

    async def _abort_stale_uploads(self) -> None:
        cutoff = self.clock.now() - self.settings.multipart_max_age
        pending = await self.objects.list_incomplete_uploads()
        stale = [u for u in pending if u.initiated is not None and u.initiated < cutoff]
        if not stale:
            return
        if not self.dry_run:
            await self._keep_lease()
            aborted = await self.objects.abort_incomplete_uploads(cutoff)
            if aborted != len(stale):
                log.info("cleanup.multipart_count_differs", listed=len(stale), aborted=aborted)
        for upload in stale:
            removal = Removal(Kind.MULTIPART, Reason.MULTIPART_STALE, keys=(upload.key,), upload_id=upload.upload_id)
            self._log_removal(removal, initiated=upload.initiated.isoformat() if upload.initiated else None)
            self.report.removals.append(removal)

    # 5. usage records

    async def _record_usage(self, usage: StorageUsage, index: TaskIndex) -> None:
        """Write every known user's figure, zero included, so a user whose files went sees 0."""
        if self.dry_run:
            return
        quota = self.settings.user_storage_quota_bytes
        measured_at = self.clock.now()
        for user_id in sorted(index.users() | set(usage.users)):
            await self._keep_lease()
            record = storage_record(usage.of(user_id), quota_bytes=quota, measured_at=measured_at)
            try:
                await self.store.set_user_metadata(user_id, STORAGE_METADATA_KEY, record)
            except MediaCraftError as exc:
                self._error(f"recording the storage usage of user {user_id}: {exc.message}", user_id=user_id)
                continue
            self.report.usage_records_written += 1

    # 6. identities unseen past the cookie lifetime

    async def _remove_stale_users(self) -> None:
        seen_before = self.clock.now() - self.settings.stale_user_age
        after: str | None = None
        while page := await self.store.list_stale_users(
            seen_before, limit=self.settings.cleanup_page_size, after=after
        ):
            after = page[-1].user_id
            for user in page:
                await self._keep_lease()
                records = await self._expired_records(user.user_id)
                if records is None or not self._spend():
                    continue
                if not self.dry_run:
                    try:
                        records = await self.store.delete_stale_user(user.user_id, seen_before=seen_before)
                    except MediaCraftError as exc:
                        self._error(f"removing user {user.user_id}: {exc.message}", user_id=user.user_id)
                        continue
                if records is None:
                    continue  # seen again, or given a task, since the listing
                removal = Removal(Kind.USER, Reason.USER_STALE, user_id=user.user_id, records=records)
                self._log_removal(removal, last_seen=user.last_accessed.isoformat())
                self.report.removals.append(removal)

    async def _expired_records(self, user_id: str) -> int | None:
        """The user's task records when every one has expired (as delete_stale_user requires), else None."""
        counts = await self.store.count_by_status(user_id, include_hidden=True)
        if any(status != TaskStatus.EXPIRED.value for status, count in counts.items() if count):
            return None
        return sum(counts.values())

    # helpers

    async def _keep_lease(self) -> None:
        if self.lease is not None:
            await self.lease.keep()

    def _spend(self) -> bool:
        """Take one unit of the pass's removal budget; False (and the report says so) when spent."""
        if self._budget <= 0:
            self.report.truncated = True
            return False
        self._budget -= 1
        return True

    def _removed(
        self,
        kind: Kind,
        reason: Reason,
        files: list[ObjectInfo],
        *,
        task: Task | None = None,
        task_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        removal = Removal(
            kind,
            reason,
            keys=tuple(obj.key for obj in files),
            bytes=sum(obj.size for obj in files),
            task_id=task.task_id if task is not None else task_id,
            user_id=task.user_id if task is not None else user_id,
        )
        extra = {"status": task.status.value} if task is not None else {}
        self._log_removal(removal, **extra)
        self.report.removals.append(removal)

    def _log_removal(self, removal: Removal, **extra: Any) -> None:
        event = "cleanup.would_remove" if self.dry_run else "cleanup.removed"
        log.info(event, dry_run=self.dry_run, **removal.fields(), **extra)

    def _error(self, message: str, **fields: Any) -> None:
        self.report.errors.append(message)
        log.warning("cleanup.error", error=message, **fields)


def _user_of(owner: KeyOwner | None, index: TaskIndex) -> str | None:
    """Whose storage an object counts in: the user in an upload key, else the task's user."""
    if owner is None:
        return None
    return owner.user_id or index.owner(owner.task_id)
