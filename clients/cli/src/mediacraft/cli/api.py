"""The API calls the commands make, over one HTTP client carrying the identity cookie.

`Api` is synchronous (one request at a time is all a command needs); `AsyncApi` serves `watch`,
which reads the event stream and polls status at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from mediacraft.cli import __version__
from mediacraft.cli.envelope import Reply, unwrap
from mediacraft.cli.errors import ApiError, Unreachable
from mediacraft.cli.multipart import MultipartBody
from mediacraft.cli.session import Session

USER_AGENT = f"mediacraft-cli/{__version__}"
# Answers worth waiting for and asking again (reads only), and how long a wait may be.
TRANSIENT_CODES = frozenset({"rate_limited", "unavailable", "http_502", "http_503", "http_504"})
MAX_RETRY_WAIT = 10.0
READ_RETRIES = 3
# After the last byte of an upload the server checks the media (ffprobe) before answering.
UPLOAD_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


def task_path(task_id: str, action: str = "") -> str:
    """The URL path of a task resource; the id is quoted so it can never climb to another route."""
    tail = f"/{action}" if action else ""
    return f"/api/tasks/{quote(task_id.strip(), safe='')}{tail}"


def describe(exc: httpx.TransportError) -> str:
    """A short reason for a transport failure."""
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__


def client_options(server: str, timeout: float) -> dict[str, Any]:
    """Settings shared by the sync and async clients."""
    return {
        "base_url": server,
        "timeout": httpx.Timeout(timeout, connect=10.0),
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        "follow_redirects": False,
        "trust_env": True,
    }


class ServerClock:
    """How far the server's clock is from ours, so `next retry in 0:45` means the same on both."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def note(self, reply: Reply) -> None:
        if reply.server_time is not None:
            self.offset = reply.server_time - datetime.now(UTC)

    def now(self) -> datetime:
        """The server's current time, as best we know it."""
        return datetime.now(UTC) + self.offset


class Api:
    """Synchronous calls of the public API."""

    def __init__(self, server: str, session: Session, *, timeout: float = 60.0) -> None:
        self.server = server
        self.session = session
        self.clock = ServerClock()
        self.http = httpx.Client(
            **client_options(server, timeout),
            event_hooks={"request": [session.apply], "response": [session.absorb]},
        )
        self._identity_checked = False

    def close(self) -> None:
        self.http.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request (the first one makes sure of the identity); Unreachable when no answer comes."""
        if not self._identity_checked:
            self.ensure_identity()
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"Cannot reach the MediaCraft server at {self.server}: {describe(exc)}") from None

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        """A request answered in the envelope; reads are asked again after a short Retry-After."""
        attempts = READ_RETRIES + 1 if method in ("GET", "HEAD") else 1
        for attempt in range(attempts):
            try:
                reply = unwrap(self.send(method, path, **kwargs))
            except ApiError as err:
                wait = err.retry_after if err.retry_after is not None else 1.0
                if err.error_code not in TRANSIENT_CODES or attempt == attempts - 1 or wait > MAX_RETRY_WAIT:
                    raise
                time.sleep(wait)  # the server asked for this pause
                continue
            self.clock.note(reply)
            return reply
        raise AssertionError("unreachable")  # the loop returns or raises

    def ensure_identity(self) -> None:
        """Get an identity cookie before anything else, once even for concurrent first runs.

        Without one, every request would be a new visitor to the server, and two scripts started
        together on a fresh machine would each save a different identity.
        """
        self._identity_checked = True
        if self.session.has_identity:
            return
        with self.session.identity.locked():
            self.session.reload()
            if not self.session.has_identity:
                self.call("GET", "/api/user/info")

    def info(self) -> Reply:
        return self.call("GET", "/api/user/info")

    def status(self, task_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self.call("GET", task_path(task_id, "status")).data
        return view

    def list_tasks(self, **params: Any) -> dict[str, Any]:
        clean = {k: v for k, v in params.items() if v is not None}
        page: dict[str, Any] = self.call("GET", "/api/user/tasks", params=clean).data
        return page

    def cancel(self, task_id: str) -> Reply:
        return self.call("POST", task_path(task_id, "cancel"))

    def retry(self, task_id: str) -> Reply:
        return self.call("POST", task_path(task_id, "retry"))

    def submit(
        self,
        task_type: str,
        config: dict[str, Any],
        files: list[Path],
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Reply:
        """Create, upload and submit in one request (a refused submit leaves nothing behind)."""
        if not files:
            return self.call("POST", "/api/tasks/submit", json={"task_type": task_type, "config": config})
        body = MultipartBody(
            [("task_type", task_type), ("config", json.dumps(config))],
            [("file", path) for path in files],
            on_progress=on_progress,
        )
        headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
        return self.call("POST", "/api/tasks/submit", content=body, headers=headers, timeout=UPLOAD_TIMEOUT)


class AsyncApi:
    """The async client `watch` uses for the event stream and status polls side by side."""

    def __init__(self, server: str, session: Session, *, timeout: float = 60.0) -> None:
        self.server = server
        self.clock = ServerClock()
        self.http = httpx.AsyncClient(
            **client_options(server, timeout),
            event_hooks={"request": [session.aapply], "response": [session.aabsorb]},
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def status(self, task_id: str) -> dict[str, Any]:
        """The task's public view; ApiError or Unreachable as for the sync client."""
        try:
            response = await self.http.get(task_path(task_id, "status"))
        except httpx.TransportError as exc:
            raise Unreachable(f"Cannot reach the MediaCraft server at {self.server}: {describe(exc)}") from None
        reply = unwrap(response)
        self.clock.note(reply)
        data: dict[str, Any] = reply.data
        return data
