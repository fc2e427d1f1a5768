"""Live task events: one private bus queue per replica, fanned out to each user's SSE streams.

Event ids are the event's time in epoch milliseconds. A client that reconnects with
`Last-Event-ID` gets the current state of every task of theirs that changed since then (and of
every unfinished one) before live events resume, so nothing is missed while it was away, whichever
replica it reconnects to: the replay comes from the task store, not from this replica's memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mediacraft.gateway.metrics import GatewayMetrics
from mediacraft.gateway.views import last_change, localize_view, progress_view, task_view
from mediacraft.shared.http.asgi import ANSWER_LANG
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import ProjectChanged, TaskProgressed, TaskStatusChanged
from mediacraft.shared.ports.bus import Bus, Incoming, Subscription
from mediacraft.shared.ports.stores import TaskStore
from mediacraft.shared.tasks import TERMINAL_STATUSES, Task
from mediacraft.shared.topology import EVENTS

log = get_logger(__name__)

# Events produced on other hosts may carry slightly earlier clocks: replay a little further back.
RESUME_SLACK = timedelta(seconds=2)


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass(frozen=True)
class LiveEvent:
    """One event for a user's stream."""

    id: int
    name: str  # status | progress
    task_id: str
    version: int
    data: dict[str, Any]

    def encode(self, event_id: int) -> bytes:
        """The SSE frame, with `event_id` (kept increasing per stream) as its id, and the task's
        sentences in the stream's language (events are shared by every stream, in English)."""
        data = self.data
        if isinstance(data.get("task"), dict):
            data = {**data, "task": localize_view(data["task"], ANSWER_LANG.get())}
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
        return f"id: {event_id}\nevent: {self.name}\ndata: {payload}\n\n".encode()


def status_event(task: Task, event_id: int, previous: str | None = None) -> LiveEvent:
    """A status event carrying the task's public view."""
    data = {
        "task_id": task.task_id,
        "status": task.status.value,
        "previous_status": previous,
        "version": task.version,
        "task": task_view(task, "en"),
    }
    return LiveEvent(event_id, "status", task.task_id, task.version, data)


def to_live_event(incoming: Incoming) -> tuple[str, LiveEvent] | None:
    """(user_id, event) for a task event off the bus; None for anything else."""
    message = incoming.envelope.open()
    event_id = epoch_ms(incoming.envelope.occurred_at)
    if isinstance(message, TaskStatusChanged):
        view = None
        if message.task:
            try:
                view = task_view(Task.model_validate(message.task), "en")
            except ValueError:
                view = None
        data = {
            "task_id": message.task_id,
            "status": message.status.value,
            "previous_status": message.previous_status.value if message.previous_status else None,
            "version": message.version,
            "task": view,
        }
        return message.user_id, LiveEvent(event_id, "status", message.task_id, message.version, data)
    if isinstance(message, TaskProgressed):
        data = progress_view(message.model_dump(mode="json"))
        return message.user_id, LiveEvent(event_id, "progress", message.task_id, message.version, data)
    if isinstance(message, ProjectChanged):
        # keyed by project id: a stream drops a project event older than one it already sent
        return message.user_id, LiveEvent(event_id, "project", message.project_id, message.version, message.project)
    return None


# Derives a project event from a task status event (a project follows its latest script task).
TaskFollower = Callable[[TaskStatusChanged], Awaitable["LiveEvent | None"]]


# The reason a stream is closed when its identity opens more than the cap allows.
TOO_MANY_STREAMS = "too_many_streams"


@dataclass(eq=False)
class Subscriber:
    """One connected stream: a bounded queue; overflow ends the stream so the client resumes."""

    user_id: str
    queue: asyncio.Queue[LiveEvent | None]
    overflowed: bool = False
    closed: bool = False
    versions: dict[str, int] = field(default_factory=dict)
    close_reason: str | None = None  # sent to the client in a final `closed` event

    def close(self, reason: str | None = None) -> None:
        """End the stream: at shutdown (no reason: the client reconnects elsewhere with
        Last-Event-ID), or with a reason the client is told in a final `closed` event."""
        self.closed = True
        self.close_reason = reason
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass  # a full queue wakes the stream anyway

    def offer(self, event: LiveEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def is_stale(self, event: LiveEvent) -> bool:
        """True for an event older than one this stream already sent for the same task."""
        seen = self.versions.get(event.task_id)
        if seen is not None and event.version < seen:
            return True
        self.versions[event.task_id] = event.version
        return False


class EventHub:
    """Consumes this replica's private `task.#` queue and hands events to subscribers by user."""

    def __init__(self, bus: Bus, *, metrics: GatewayMetrics, queue_size: int = 256, max_per_user: int = 8) -> None:
        self._bus = bus
        self._metrics = metrics
        self._queue_size = queue_size
        self._max_per_user = max_per_user
        # each user's streams, oldest first (a dict keeps insertion order)
        self._subscribers: dict[str, dict[Subscriber, None]] = {}
        self._subscription: Subscription | None = None
        self.queue_name: str | None = None
        self.follower: TaskFollower | None = None  # set by the app: project events from script tasks

    async def start(self) -> None:
        """Declare and consume this replica's private queue."""
        self.queue_name = await self._bus.declare_private_queue([(EVENTS, "task.#"), (EVENTS, "project.#")])
        self._subscription = await self._bus.consume(self.queue_name, self._on_message, prefetch=256)

    async def close(self) -> None:
        """Stop consuming and end every open stream (call before the HTTP server drains)."""
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.close()
        if self._subscription is not None:
            await self._subscription.cancel()
            self._subscription = None

    @property
    def running(self) -> bool:
        return self._subscription is not None

    def subscribe(self, user_id: str) -> Subscriber:
        """A new stream for the user; past the cap, the user's oldest stream is closed (and told why)."""
        subs = self._subscribers.setdefault(user_id, {})
        for oldest in list(subs)[: max(0, len(subs) - self._max_per_user + 1)]:
            self.unsubscribe(oldest)
            oldest.close(TOO_MANY_STREAMS)
            self._metrics.sse_closed.labels(TOO_MANY_STREAMS).inc()
        sub = Subscriber(user_id, asyncio.Queue(self._queue_size))
        self._subscribers.setdefault(user_id, {})[sub] = None
        self._metrics.sse_clients.inc()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subscribers.get(sub.user_id)
        if subs is not None and sub in subs:
            del subs[sub]
            self._metrics.sse_clients.dec()
            if not subs:
                del self._subscribers[sub.user_id]

    def subscriber_count(self, user_id: str | None = None) -> int:
        if user_id is not None:
            return len(self._subscribers.get(user_id, ()))
        return sum(len(s) for s in self._subscribers.values())

    async def _on_message(self, incoming: Incoming) -> None:
        # A live event is worth nothing later: never raise, so nothing is redelivered or parked.
        try:
            routed = to_live_event(incoming)
        except Exception as exc:
            log.warning("live_event_unreadable", error=str(exc), type=incoming.envelope.type)
            return
        if routed is None:
            return
        user_id, event = routed
        for sub in tuple(self._subscribers.get(user_id, ())):
            sub.offer(event)
        message = incoming.envelope.open()
        if self.follower is not None and isinstance(message, TaskStatusChanged) and self._subscribers.get(user_id):
            try:
                followed = await self.follower(message)
            except Exception as exc:
                log.warning("project_event_failed", error=str(exc), task_id=message.task_id)
                return
            if followed is not None:
                for sub in tuple(self._subscribers.get(user_id, ())):
                    sub.offer(followed)


async def changed_since(store: TaskStore, user_id: str, since: datetime, *, limit: int) -> list[Task]:
    """The user's tasks that changed at or after `since`, and every unfinished one (up to `limit` scanned)."""
    cutoff = since - RESUME_SLACK
    found: list[Task] = []
    cursor: str | None = None
    scanned = 0
    while scanned < limit:
        page = await store.list_for_user(user_id, include_hidden=True, cursor=cursor, limit=min(100, limit - scanned))
        for task in page.items:
            if task.status not in TERMINAL_STATUSES or last_change(task) >= cutoff:
                found.append(task)
        scanned += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    found.sort(key=last_change)
    return found


def parse_last_event_id(value: str | None) -> datetime | None:
    """The instant a Last-Event-ID names, or None when it is absent or not one of ours."""
    if not value or not value.isdigit() or len(value) > 15:
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)


async def event_stream(
    hub: EventHub,
    user_id: str,
    *,
    now: Callable[[], datetime],
    replay: Callable[[], Awaitable[list[Task]]] | None,
    heartbeat: float,
    retry_ms: int,
    metrics: GatewayMetrics,
    replay_more: Callable[[int], Awaitable[list[LiveEvent]]] | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body of one stream; it subscribes before the replay so that no event falls between.

    `replay_more(event_id)`: further events replayed after the tasks' (the projects').
    """
    sub = hub.subscribe(user_id)
    try:
        last_id = epoch_ms(now())
        yield f"retry: {retry_ms}\n\n".encode()
        replayed = 0
        if replay is not None:
            for task in await replay():
                replayed_event = status_event(task, last_id)
                if not sub.is_stale(replayed_event):
                    replayed += 1
                    yield replayed_event.encode(last_id)
            for more in await replay_more(last_id) if replay_more is not None else []:
                if not sub.is_stale(more):
                    replayed += 1
                    yield more.encode(last_id)
        ready = json.dumps({"resumed": replay is not None, "replayed": replayed})
        yield f"id: {last_id}\nevent: ready\ndata: {ready}\n\n".encode()
        while not sub.closed:
            if sub.overflowed and sub.queue.empty():
                # the client fell behind: it reconnects with Last-Event-ID and gets current state
                yield b"event: resync\ndata: {}\n\n"
                return
            try:
                event = await asyncio.wait_for(sub.queue.get(), heartbeat)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            if event is None:
                break
            if sub.is_stale(event):
                continue
            last_id = max(last_id, event.id)
            metrics.sse_events.inc()
            yield event.encode(last_id)
        if sub.close_reason is not None:
            yield closed_event(sub.close_reason)
    finally:
        hub.unsubscribe(sub)


def closed_event(reason: str) -> bytes:
    """The last frame of a stream the gateway closes for a reason (no id: Last-Event-ID stays)."""
    message = {
        TOO_MANY_STREAMS: "Too many live streams are open for this identity; this one, the oldest, was closed",
    }.get(reason, "The stream was closed")
    return f"event: closed\ndata: {json.dumps({'reason': reason, 'message': message})}\n\n".encode()


class SseResponse(Response):
    """A text/event-stream response that stops as soon as the client disconnects.

    Starlette's StreamingResponse notices a disconnect only when a write fails under newer ASGI
    servers; an idle stream would keep its subscriber until the next heartbeat.
    """

    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self.init_headers(
            {
                "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no",
                "Content-Type": "text/event-stream; charset=utf-8",
                **(headers or {}),
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        tg.cancel_scope.cancel()
                        return

            async def pump() -> None:
                try:
                    async for chunk in self.body_iterator:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            tg.start_soon(pump)
        aclose = getattr(self.body_iterator, "aclose", None)
        if aclose is not None:
            await aclose()
