"""The public HTTP API as a client sees it: a visitor (httpx with a cookie jar) and a live event
stream (Server-Sent Events read on a thread, every wait bounded by a deadline).

Every JSON answer is checked for the envelope `{success, code, message, data, meta}` before its
`data` is handed back, so a test that reads a field has also checked the answer's shape.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mediacraft.shared.tasks import TERMINAL_STATUSES

TERMINAL = frozenset(s.value for s in TERMINAL_STATUSES)
ENVELOPE_KEYS = {"success", "code", "message", "error_code", "data", "meta"}


class ApiFailure(AssertionError):
    """The API answered something other than what the test expected."""


def envelope(reply: httpx.Response) -> dict[str, Any]:
    """The parsed envelope of a JSON answer (checked for its keys and its success flag)."""
    try:
        doc = reply.json()
    except ValueError:
        where = f"{reply.request.method} {reply.request.url.path}"
        raise ApiFailure(f"{where}: not JSON ({reply.status_code}): {reply.text[:300]}") from None
    if not isinstance(doc, dict) or set(doc) != ENVELOPE_KEYS:
        raise ApiFailure(f"not an envelope: {doc!r:.300}")
    if doc["success"] != (reply.status_code < 400) or doc["code"] != reply.status_code:
        raise ApiFailure(f"success={doc['success']}, code={doc['code']} with HTTP {reply.status_code}: {doc!r:.300}")
    if (doc["error_code"] is None) != doc["success"]:
        raise ApiFailure(f"error_code={doc['error_code']} with success={doc['success']}: {doc!r:.300}")
    return doc


class Visitor:
    """One person's browser as far as the API is concerned: a base URL and a cookie jar."""

    def __init__(self, base_url: str, name: str = "visitor", *, timeout: float = 30.0) -> None:
        self.name = name
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    @property
    def cookie(self) -> str | None:
        return self.http.cookies.get("mc_uid")

    # --- raw calls --------------------------------------------------------------------------

    def call(
        self, method: str, path: str, *, expect: int | Iterable[int] = (200, 201, 202), **kwargs: Any
    ) -> dict[str, Any]:
        """Send a request and return the envelope; the HTTP status must be one of `expect`."""
        wanted = {expect} if isinstance(expect, int) else set(expect)
        reply = self.http.request(method, path, **kwargs)
        doc = envelope(reply)
        if reply.status_code not in wanted:
            raise ApiFailure(
                f"{self.name}: {method} {path} -> {reply.status_code} {doc['error_code']}: {doc['message']}"
                f" (wanted {sorted(wanted)})"
            )
        return doc

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs)["data"]

    # --- the API, one method per route the tests use ----------------------------------------

    def info(self) -> dict[str, Any]:
        return self.data("GET", "/api/user/info")

    def create(self, task_type: str) -> dict[str, Any]:
        return self.data("POST", "/api/tasks/create", json={"task_type": task_type}, expect=201)

    def upload(self, task_id: str, *paths: Path) -> dict[str, Any]:
        """Upload files in one multipart request (field `file`, repeated, in order)."""
        with contextlib.ExitStack() as opened:
            files = [("file", (p.name, opened.enter_context(p.open("rb")), "video/mp4")) for p in paths]
            return self.data("POST", f"/api/tasks/{task_id}/upload", files=files)

    def submit(self, task_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Send the config of a draft, which submits it."""
        doc = self.call("POST", f"/api/tasks/{task_id}/config", json={"config": config}, expect=202)
        assert doc["data"]["duplicate"] is False, doc
        return doc["data"]

    def submit_generation(self, task_type: str, config: dict[str, Any]) -> dict[str, Any]:
        """Create and submit a task without files in one call."""
        doc = self.call("POST", "/api/tasks/submit", json={"task_type": task_type, "config": config}, expect=202)
        assert doc["data"]["duplicate"] is False, doc
        return doc["data"]

    def generate_image(self, prompt: str, width: int = 128, height: int = 128, **extra: Any) -> str:
        """Submit an image generation in one call; returns the task id."""
        config = {"prompt": prompt, "width": width, "height": height, **extra}
        return self.submit_generation("image_generation", config)["task_id"]

    def status(self, task_id: str) -> dict[str, Any]:
        return self.data("GET", f"/api/tasks/{task_id}/status")

    def tasks(self, **params: Any) -> dict[str, Any]:
        return self.data("GET", "/api/user/tasks", params=params)

    def all_tasks(self) -> list[dict[str, Any]]:
        """Every task of the visitor, following the cursor."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.tasks(limit=100, **({"cursor": cursor} if cursor else {}))
            found.extend(page["tasks"])
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    def preview(self, task_id: str, **params: Any) -> httpx.Response:
        reply = self.http.get(f"/api/tasks/{task_id}/preview", params=params)
        if reply.status_code != 200:
            raise ApiFailure(f"preview -> {reply.status_code}: {reply.text[:300]}")
        return reply

    def download(self, task_id: str, target: Path) -> Path:
        """Stream the result into `target`."""
        with self.http.stream("GET", f"/api/tasks/{task_id}/download") as reply:
            if reply.status_code != 200:
                reply.read()
                raise ApiFailure(f"download -> {reply.status_code}: {reply.text[:300]}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for chunk in reply.iter_bytes():
                    out.write(chunk)
        return target

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self.data("POST", f"/api/tasks/{task_id}/cancel", expect=202)

    def retry(self, task_id: str) -> dict[str, Any]:
        return self.data("POST", f"/api/tasks/{task_id}/retry", expect=202)

    def events(self, **kwargs: Any) -> EventStream:
        """Open this visitor's live event stream (returns once the server said it is subscribed)."""
        if self.cookie is None:
            self.info()  # a stream opened without the cookie would belong to a brand-new identity
        return EventStream(self.base_url, self.http.cookies, **kwargs)


# --- Server-Sent Events -------------------------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    name: str
    id: str | None
    data: Any

    @property
    def task_id(self) -> str | None:
        return self.data.get("task_id") if isinstance(self.data, dict) else None


@dataclass
class TaskTrack:
    """What the stream said about one task: its latest status event, every status and progress seen."""

    status: str | None = None
    version: int = -1
    view: dict[str, Any] | None = None
    statuses: list[str] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)


_END = object()


class EventStream:
    """A reader thread parses the stream into a queue; the test takes events with a deadline.

    `tracks` holds the latest status of every task the stream mentioned (an event older than one
    already seen for the same task is ignored, by version), so a test can wait on a condition
    over all its tasks; `observers` see every status change as it is applied, in stream order.
    """

    def __init__(
        self, base_url: str, cookies: httpx.Cookies, *, last_event_id: str | None = None, ready_timeout: float = 15.0
    ) -> None:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        # the server pings every few seconds: a read that waits far longer means a dead stream
        self._http = httpx.Client(base_url=base_url, cookies=cookies, timeout=httpx.Timeout(10.0, read=30.0))
        self._headers = headers
        self._queue: queue.Queue[Any] = queue.Queue()
        self._response: httpx.Response | None = None
        self._closing = threading.Event()
        self.events: list[SseEvent] = []
        self.tracks: dict[str, TaskTrack] = {}
        self.observers: list[Callable[[str, TaskTrack], None]] = []
        self._thread = threading.Thread(target=self._read, name="sse-reader", daemon=True)
        self._thread.start()
        try:
            self.ready = self.wait_for(lambda e: e.name == "ready", ready_timeout, "the ready event")
        except BaseException:
            self.close()
            raise

    # --- reader thread --------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            with self._http.stream("GET", "/api/events", headers=self._headers) as reply:
                self._response = reply
                kind = reply.headers.get("content-type", "")
                if reply.status_code != 200 or not kind.startswith("text/event-stream"):
                    reply.read()
                    self._queue.put(ApiFailure(f"/api/events -> {reply.status_code} {kind}: {reply.text[:300]}"))
                    return
                name, event_id = "message", None
                data: list[str] = []
                for line in reply.iter_lines():
                    if self._closing.is_set():
                        return
                    if line == "":
                        if data:
                            text = "\n".join(data)
                            parsed = json.loads(text) if text.startswith(("{", "[")) else text
                            self._queue.put(SseEvent(name, event_id, parsed))
                        name, event_id, data = "message", None, []
                    elif line.startswith(":"):
                        continue  # a ping
                    else:
                        key, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if key == "event":
                            name = value
                        elif key == "id":
                            event_id = value
                        elif key == "data":
                            data.append(value)
        except Exception as exc:  # handed to the test thread, unless the test closed the stream
            if not self._closing.is_set():
                self._queue.put(exc)
        finally:
            self._queue.put(_END)

    # --- test thread ----------------------------------------------------------------------------

    def next(self, deadline: float) -> SseEvent:
        """The next event, applied to `tracks`; TimeoutError at the deadline (time.monotonic)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        try:
            item = self._queue.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError("no event before the deadline") from None
        if item is _END:
            self._queue.put(_END)  # every later call ends the same way
            raise ApiFailure("the event stream ended")
        if isinstance(item, BaseException):
            raise ApiFailure(f"the event stream failed: {item!r}") from item
        self.events.append(item)
        self._apply(item)
        return item

    def drain(self) -> list[SseEvent]:
        """Every event already received, without waiting for more."""
        taken: list[SseEvent] = []
        while not self._queue.empty():
            item = self._queue.queue[0]
            if item is _END or isinstance(item, BaseException):
                break
            taken.append(self.next(time.monotonic() + 1.0))
        return taken

    def wait_for(self, predicate: Callable[[SseEvent], bool], timeout: float, what: str) -> SseEvent:
        """Take events until one matches `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.next(deadline)
            except TimeoutError:
                raise TimeoutError(f"no {what} within {timeout:.0f} s; last events: {self._summary()}") from None
            if predicate(event):
                return event

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Take events until `condition()` (over `tracks`) holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            try:
                self.next(deadline)
            except TimeoutError:
                summary = self._tracks_summary()
                raise TimeoutError(f"{what} did not happen within {timeout:.0f} s; tasks: {summary}") from None

    def wait_terminal(self, task_ids: Iterable[str], timeout: float) -> dict[str, TaskTrack]:
        """Wait until every task's latest status is terminal; returns their tracks."""
        ids = list(task_ids)
        self.wait_until(lambda: all(self.status_of(t) in TERMINAL for t in ids), timeout, f"{len(ids)} tasks finishing")
        return {t: self.tracks[t] for t in ids}

    def status_of(self, task_id: str) -> str | None:
        track = self.tracks.get(task_id)
        return track.status if track else None

    def close(self) -> None:
        """Hang up: the reader thread, blocked in a read, wakes at once and ends."""
        self._closing.set()
        response = self._response
        if response is not None:
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._http.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _apply(self, event: SseEvent) -> None:
        task_id = event.task_id
        if task_id is None:
            return
        track = self.tracks.setdefault(task_id, TaskTrack())
        if event.name == "progress":
            if event.data.get("progress") is not None:
                track.progress.append(float(event.data["progress"]))
            return
        if event.name != "status":
            return
        version = int(event.data.get("version", -1))
        if version < track.version:
            return  # older than what this stream already applied
        track.version = version
        track.status = event.data["status"]
        track.view = event.data.get("task") or track.view
        if not track.statuses or track.statuses[-1] != track.status:
            track.statuses.append(track.status)
        for observer in self.observers:
            observer(task_id, track)

    def _summary(self) -> str:
        return ", ".join(
            f"{e.name}:{e.data.get('status', '') if isinstance(e.data, dict) else ''}" for e in self.events[-8:]
        )

    def _tracks_summary(self) -> str:
        return ", ".join(f"{t[:8]}={tr.status}" for t, tr in self.tracks.items())
