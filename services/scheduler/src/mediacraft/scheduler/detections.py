"""Watermark detection jobs: short jobs of the watermark pool, outside the users' task quotas.

A person asks where the watermark of an uploaded draft is (the gateway writes the task's
`detection` as pending and sends `task.detect`); the scheduler starts at most
`detection_concurrency` detection jobs at once across all users, in the order asked, and writes
the pool's answer (`job.detected`) on the task with `TaskStore.set_detection`. A slot whose answer
never comes is freed after `detection_timeout_seconds`, and the task's detection then says so.
Detection state lives in memory only: a request lost with a restarted scheduler stays pending
until the person asks again (asking again is always allowed on a draft).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mediacraft.shared.error_texts import text
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import DetectionFinished, DetectWatermarks
from mediacraft.shared.ports.bus import BusUnavailable, Unroutable
from mediacraft.shared.tasks import DRAFT_STATUSES, TaskDetection

if TYPE_CHECKING:
    from mediacraft.scheduler.lifecycle import Context

log = get_logger("mediacraft.scheduler.detections")

TIMED_OUT_MESSAGE = text("detection_timed_out")
UNSENT_MESSAGE = text("detection_unsent")


@dataclass
class RunningDetection:
    task_id: str
    started: float  # monotonic


@dataclass
class DetectionSlots:
    """The detection jobs asked for and not yet answered: waiting in order, and running."""

    waiting: deque[DetectWatermarks] = field(default_factory=deque)
    running: dict[str, RunningDetection] = field(default_factory=dict)  # by request id

    def knows(self, request_id: str) -> bool:
        return request_id in self.running or any(w.request_id == request_id for w in self.waiting)

    def overdue(self, now: float, timeout: float) -> list[tuple[str, RunningDetection]]:
        """Take the running detections older than `timeout` out of their slots."""
        late = [(rid, run) for rid, run in self.running.items() if now - run.started > timeout]
        for rid, _ in late:
            del self.running[rid]
        return late


async def on_detect(cmd: DetectWatermarks, ctx: Context) -> None:
    """A person asked for detection: line it up and start what the cap allows."""
    slots = ctx.state.detections
    if not slots.knows(cmd.request_id):
        slots.waiting.append(cmd)
    await start_detections(ctx)


async def on_detection_finished(event: DetectionFinished, ctx: Context) -> None:
    """The pool answered: keep the answer on the task (if still the current request) and tell live views."""
    ctx.state.detections.running.pop(event.request_id, None)
    await _answer(ctx, event.task_id, event.request_id, event.detection)
    await start_detections(ctx)


async def start_detections(ctx: Context) -> None:
    """Free overdue slots, then publish waiting detection jobs while fewer than the cap run."""
    slots = ctx.state.detections
    now = time.monotonic()
    for rid, run in slots.overdue(now, ctx.rules.detection_timeout_seconds):
        log.warning("scheduler.detection_timed_out", task_id=run.task_id, request_id=rid)
        await _answer(ctx, run.task_id, rid, TaskDetection(state="failed", message=TIMED_OUT_MESSAGE, request_id=rid))
    while slots.waiting and len(slots.running) < ctx.rules.detection_concurrency:
        cmd = slots.waiting.popleft()
        task = await ctx.store.get(cmd.task_id)
        current = task.detection if task is not None else None
        if (
            task is None
            or task.user_id != cmd.user_id
            or task.status not in DRAFT_STATUSES
            or current is None
            or current.request_id != cmd.request_id
            or current.state != "pending"
        ):
            continue  # submitted, cancelled or asked again since: nothing to do for this request
        try:
            await ctx.publisher.run_detection(task, cmd.request_id, causation_id=ctx.causation_id)
        except (BusUnavailable, Unroutable):
            log.warning("scheduler.detection_unsent", task_id=task.task_id, exc_info=True)
            failed = TaskDetection(state="failed", message=UNSENT_MESSAGE, request_id=cmd.request_id)
            await _answer(ctx, task.task_id, cmd.request_id, failed)
            continue
        slots.running[cmd.request_id] = RunningDetection(task.task_id, now)


async def _answer(ctx: Context, task_id: str, request_id: str, detection: TaskDetection) -> None:
    task = await ctx.store.get(task_id)
    if task is None or task.detection is None or task.detection.request_id != request_id:
        return
    answer = detection.model_copy(
        update={"request_id": request_id, "requested_at": task.detection.requested_at, "finished_at": ctx.clock.now()}
    )
    written = await ctx.store.set_detection(task_id, answer, answers=request_id)
    if written is not None:
        ctx.publisher.status_changed(written, written.status, causation_id=ctx.causation_id)
