"""Following one task to its end: the event stream for prompt updates, status polls as the
safety net (every second while the stream is down, now and then while it is up), and a status
line that shows percent, stage, ETA, queue position, retries and the task's message."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mediacraft.cli.api import TRANSIENT_CODES, AsyncApi
from mediacraft.cli.errors import OK, TASK_CANCELLED, TASK_FAILED, ApiError, CliError, Unreachable
from mediacraft.cli.events import Link, SseEvent, follow_events
from mediacraft.cli.progress import TERMINAL, StatusLine, change_key, task_line

DRAFTS = frozenset({"created", "uploaded"})
POLL_SECONDS = 1.0  # without a live stream
LIVE_POLL_SECONDS = 15.0  # with one: only a net for an event lost on the way
TICK_SECONDS = 0.5  # a terminal's ETA and retry countdowns move this often
# A server that stays away this long (restart, network) ends the wait with an error.
GIVE_UP_SECONDS = 300.0
# After a cancel or retry request, how long the task may show no change before we stop waiting.
ACT_SECONDS = 60.0


def exit_code_for(view: dict[str, Any]) -> int:
    """0 for a completed task, TASK_FAILED, or TASK_CANCELLED (cancelled or expired)."""
    status = view.get("status")
    if status == "completed":
        return OK
    return TASK_FAILED if status == "failed" else TASK_CANCELLED


def merge_event(view: dict[str, Any], task_id: str, event: SseEvent) -> dict[str, Any] | None:
    """The task's view after a live event; None when the event needs a status fetch instead."""
    data = event.json()
    if not isinstance(data, dict) or data.get("task_id") != task_id:
        return view
    version = int(data.get("version") or 0)
    if version < int(view.get("version") or 0):
        return view  # older than what we show
    if event.name == "status":
        task = data.get("task")
        return task if isinstance(task, dict) else None
    if event.name == "progress" and view.get("status") == "processing":
        merged = dict(view)
        for key in ("progress", "stage", "subtasks", "eta_seconds"):
            if data.get(key) is not None:
                merged[key] = data[key]
        return merged
    return view


class Watcher:
    """Watches one task until it ends; the last view is the answer."""

    def __init__(
        self, api: AsyncApi, task_id: str, line: StatusLine, *, live: bool = True, newer_than: int | None = None
    ) -> None:
        self.api = api
        self.task_id = task_id
        self.line = line
        self.live = live
        # cancel and retry answer with the task as it was: its end only counts past that version
        self.newer_than = newer_than
        self._started = time.monotonic()
        self.view: dict[str, Any] = {}
        self._updated = time.monotonic()
        self._polled = 0.0
        self._stream_up = False
        self._trouble_since: float | None = None
        self._trouble: str | None = None  # shown instead of the task while the server is away

    async def run(self) -> dict[str, Any]:
        """Follow the task to a terminal state and return its final view."""
        await self._poll()
        if self.view.get("status") in DRAFTS:
            raise CliError(f"Task {self.task_id} is a draft that was never submitted; there is nothing to follow")
        if self._ended():
            self._draw(force=True)
            return self.view
        queue: asyncio.Queue[SseEvent | Link] = asyncio.Queue()
        follower = asyncio.create_task(follow_events(self.api, queue)) if self.live else None
        try:
            while not self._ended():
                self._draw()
                item = await self._next(queue)
                if item is None:
                    await self._poll()
                elif isinstance(item, Link):
                    self._stream_up = False
                elif item.name == "ready":
                    # subscribed: fetch once so nothing that happened before it is missed
                    self._stream_up = True
                    await self._poll()
                else:
                    merged = merge_event(self.view, self.task_id, item)
                    if merged is None:
                        await self._poll()
                    elif merged is not self.view:
                        self._set(merged)
        finally:
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
        self._draw(force=True)
        return self.view

    def _ended(self) -> bool:
        if self.view.get("status") not in TERMINAL:
            return False
        if self.newer_than is None or int(self.view.get("version") or 0) > self.newer_than:
            return True
        if time.monotonic() - self._started > ACT_SECONDS:
            raise CliError(
                f"The server has not acted on the request in {ACT_SECONDS:.0f} s; "
                f"check with: mediacraft status {self.task_id}"
            )
        return False

    async def _next(self, queue: asyncio.Queue[SseEvent | Link]) -> SseEvent | Link | None:
        """The next event, or None when a status poll is due."""
        interval = LIVE_POLL_SECONDS if self._stream_up else POLL_SECONDS
        while True:
            due = self._polled + interval - time.monotonic()
            if due <= 0:
                return None
            wait = min(due, TICK_SECONDS) if self.line.tty else due
            try:
                return await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                self._draw()  # countdowns move on a terminal

    async def _poll(self) -> None:
        self._polled = time.monotonic()
        try:
            view = await self.api.status(self.task_id)
        except (Unreachable, ApiError) as err:
            if isinstance(err, ApiError) and err.error_code not in TRANSIENT_CODES:
                raise
            now = time.monotonic()
            self._trouble_since = self._trouble_since or now
            if now - self._trouble_since > GIVE_UP_SECONDS or not self.view:
                raise
            self._trouble = f"waiting for the server to answer again: {err.message}"
            return
        self._trouble_since, self._trouble = None, None
        version, shown = int(view.get("version") or 0), int(self.view.get("version") or 0)
        if self.view and version < shown:
            return
        if version == shown and view.get("status") == self.view.get("status") == "processing":
            # the store keeps progress less often than the stream sends it: never step back
            view = {**view, "progress": max(float(view.get("progress") or 0), float(self.view.get("progress") or 0))}
        self._set(view)

    def _set(self, view: dict[str, Any]) -> None:
        self.view = view
        self._updated = time.monotonic()

    def _draw(self, *, force: bool = False) -> None:
        if self._trouble is not None:
            self.line.show(self._trouble, force=force)
            return
        text = task_line(self.view, since_update=time.monotonic() - self._updated, server_now=self.api.clock.now())
        self.line.show(text, key=change_key(self.view), force=force)


async def watch_task(
    api: AsyncApi, task_id: str, line: StatusLine, *, live: bool = True, newer_than: int | None = None
) -> dict[str, Any]:
    """Follow `task_id` until it ends (closing the client after) and return its final view."""
    try:
        return await Watcher(api, task_id, line, live=live, newer_than=newer_than).run()
    finally:
        line.end()
        await api.close()
