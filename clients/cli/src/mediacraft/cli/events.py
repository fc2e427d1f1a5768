"""Following the API's Server-Sent Events stream, reconnecting with Last-Event-ID when it drops.

Events go onto an asyncio queue as they arrive, and so do changes of the link itself (LOST when
the stream broke, UNSUPPORTED when the server has no stream), so that the reader can poll status
while the stream is down and stop polling often once it is back.
"""

from __future__ import annotations

import asyncio
import enum
import json
from dataclasses import dataclass
from typing import Any

import httpx

from mediacraft.cli.api import AsyncApi

# The API sends a comment every 15 s by default: a stream silent for much longer is dead.
READ_TIMEOUT = 60.0
MAX_RECONNECT_DELAY = 30.0
# Answers meaning "there is no event stream here": polling is all that is left.
NO_STREAM_STATUSES = frozenset({401, 403, 404, 405, 406, 501})


class Link(enum.Enum):
    LOST = "lost"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class SseEvent:
    name: str
    data: str
    id: str | None

    def json(self) -> Any:
        """The data as JSON, or None when it is not."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


class SseParser:
    """The text/event-stream format, line by line (the WHATWG rules the API relies on)."""

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None
        self._name = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its end of line); an event comes out on the blank line ending it."""
        if not line:
            if not self._data:
                self._name = ""
                return None
            event = SseEvent(self._name or "message", "\n".join(self._data), self.last_event_id)
            self._name, self._data = "", []
            return event
        if line.startswith(":"):
            return None  # a comment: the server's keep-alive
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self.last_event_id = value
        elif field == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


async def follow_events(api: AsyncApi, queue: asyncio.Queue[SseEvent | Link]) -> None:
    """Put the caller's live events on `queue` until cancelled, resuming after each break."""
    parser = SseParser()
    failures = 0
    while True:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if parser.last_event_id:
            headers["Last-Event-ID"] = parser.last_event_id
        try:
            async with api.http.stream(
                "GET", "/api/events", headers=headers, timeout=httpx.Timeout(READ_TIMEOUT, connect=10.0)
            ) as response:
                kind = response.headers.get("content-type", "")
                if response.status_code in NO_STREAM_STATUSES:
                    await queue.put(Link.UNSUPPORTED)
                    return
                if response.status_code == 200 and kind.startswith("text/event-stream"):
                    async for line in response.aiter_lines():
                        event = parser.feed(line)
                        if event is None:
                            continue
                        if event.name == "resync":
                            break  # we fell behind: reconnect, and the replay brings current state
                        if event.name == "ready":
                            failures = 0
                        await queue.put(event)
        except httpx.TransportError:
            pass
        failures += 1
        await queue.put(Link.LOST)
        base = (parser.retry_ms or 1000) / 1000
        await asyncio.sleep(min(MAX_RECONNECT_DELAY, base * min(failures, 10)))
