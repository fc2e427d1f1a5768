"""What the API tests do as a client: small steps over httpx, and a Server-Sent Events reader."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from mediacraft.shared import transitions
from mediacraft.shared.tasks import ResultFile, TaskStatus
from tests.fixtures.envelope import checked_envelope
from tests.integration.gateway.harness import Gateway


def envelope(response: httpx.Response) -> dict[str, Any]:
    """The answer's envelope, checked for the documented form."""
    return checked_envelope(response)


def data(response: httpx.Response) -> Any:
    """The envelope's data, after checking the envelope's form."""
    return envelope(response)["data"]


async def create(c: httpx.AsyncClient, task_type: str, **headers: str) -> dict[str, Any]:
    r = await c.post("/api/tasks/create", json={"task_type": task_type}, headers=headers)
    assert r.status_code == 201, r.text
    return data(r)


async def upload(c: httpx.AsyncClient, task_id: str, *files: Path | tuple[str, bytes]) -> httpx.Response:
    """Upload files in one request (repeated `file` field), in order."""
    parts = []
    for f in files:
        name, content = (f.name, f.read_bytes()) if isinstance(f, Path) else f
        parts.append(("file", (name, content, "video/mp4")))
    return await c.post(f"/api/tasks/{task_id}/upload", files=parts)


async def user_id_of(c: httpx.AsyncClient) -> str:
    return data(await c.get("/api/user/info"))["user_id"]


async def finish(gw: Gateway, task_id: str, payload: bytes = b"RESULT" * 1000) -> None:
    """Play the scheduler and a worker: store a result and mark the queued task completed."""
    task = await gw.store.get(task_id)
    assert task is not None and task.status is TaskStatus.QUEUED
    key = f"results/{task_id}/1/result.mp4"

    async def body() -> AsyncIterator[bytes]:
        yield payload

    info = await gw.objects.put_stream(key, body(), content_type="video/mp4")
    running = await gw.store.transition(
        task_id,
        transitions.DISPATCH,
        expected_version=task.version,
        changes={"attempts": 1, "started_at": gw.clock.now()},
    )
    await gw.store.transition(
        task_id,
        transitions.COMPLETE,
        expected_version=running.version,
        changes={
            "progress": 100.0,
            "completed_at": gw.clock.now(),
            "result": ResultFile(key=key, size=info.size, content_type="video/mp4", filename="result.mp4"),
        },
    )


async def fail(gw: Gateway, task_id: str) -> None:
    """Play the scheduler: the queued task failed for good."""
    task = await gw.store.get(task_id)
    assert task is not None
    if task.status is TaskStatus.QUEUED:
        task = await gw.store.transition(
            task_id,
            transitions.DISPATCH,
            expected_version=task.version,
            changes={"attempts": 1, "started_at": gw.clock.now()},
        )
    await gw.store.transition(
        task_id,
        transitions.FAIL,
        expected_version=task.version,
        changes={
            "error": {"code": "invalid_media", "message": "bad", "retryable": False},
            "error_message": "bad",
            "completed_at": gw.clock.now(),
        },
    )


class SseReader:
    """Reads events from an open `text/event-stream` response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next event (comments and heartbeats skipped): {id, event, data}."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> dict[str, Any]:
        event: dict[str, Any] = {}
        async for line in self._lines:
            if not line:
                if "event" in event or "data" in event:
                    if "data" in event:
                        event["data"] = json.loads(event["data"])
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            event[field] = value
        raise EOFError("stream ended")

    async def until(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Skip events until one satisfies `predicate`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.next(max(0.01, deadline - loop.time()))
            if predicate(event):
                return event
