"""Every request body bounded while it streams: its size, and how long and how slowly it may arrive.

One mechanism for every route of an HTTP service, at the ASGI layer, so that a new route cannot
forget it:

- a declared `Content-Length` over the request's limit is refused at once (413
  `payload_too_large`), before a byte of the body is read;
- the bytes of a body are counted as the app reads them (chunked bodies included) and reading
  stops at the limit (413);
- a body that stalls (no bytes for `idle_seconds`) or trickles (fewer than `min_rate` bytes per
  second on average, once `rate_grace_seconds` of waiting have passed) is cut (408
  `request_timeout`). Only the time spent waiting for the client counts, never the time the app
  spends with what it received (an object store being slow is not the client's fault).

The limit is `max_bytes` unless a `StreamedRoute` (an upload) names the path and the media type.
Every other body is small, so it is read in full (`BodyGuard.read_ahead`) before the app runs:
a body over the limit is refused before any route acts on the request, even one that never
reads its body, and the app then receives the body whole.

When a body is cut, the app reads `http.disconnect` from then on, so it unwinds as for a client
that went away (an upload removes what it stored), and the answer it then gives is replaced with
the refusal. A 408 closes the connection. A 413 leaves it to the server, which discards the rest
of the body unread and closes the connection after its keep-alive timeout: closing at once would
reset it while the client is still sending, and most clients would then lose the answer.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediacraft.shared.http.asgi import error_response
from mediacraft.shared.http.envelope import ApiError, RequestIds

DISCONNECT: Message = {"type": "http.disconnect"}


@dataclass(frozen=True)
class StreamedRoute:
    """Paths (a regular expression on the whole path) whose bodies of one media type have their own limit."""

    path: str
    max_bytes: int
    media_types: tuple[str, ...] = ("multipart/form-data",)

    def applies(self, path: str, media_type: str) -> bool:
        return media_type in self.media_types and re.fullmatch(self.path, path) is not None


@dataclass(frozen=True)
class BodyRules:
    """The limits of every request body of one app."""

    max_bytes: int = 64 * 1024
    idle_seconds: float | None = 30.0
    min_rate: float | None = 1024.0  # bytes per second, averaged over the time spent waiting
    rate_grace_seconds: float = 10.0
    streamed: tuple[StreamedRoute, ...] = ()

    def limit_for(self, path: str, content_type: str | None) -> tuple[int, bool]:
        """The most bytes a body sent to `path` with `content_type` may have, and whether it streams
        (an upload, read by the app as it arrives) rather than being read ahead."""
        media_type = (content_type or "").split(";")[0].strip().lower()
        for route in self.streamed:
            if route.applies(path, media_type):
                return route.max_bytes, True
        return self.max_bytes, False


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k: v for k, v in scope["headers"] if k in (b"content-length", b"content-type", b"x-request-id")}


class BodyGuard:
    """One request's body under the rules: `receive` for the app, and the refusal once it is cut."""

    def __init__(
        self,
        receive: Receive,
        rules: BodyRules,
        limit: int,
        *,
        streamed: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._receive = receive
        self.rules = rules
        self.limit = limit
        self.streamed = streamed
        self._ahead: list[Message] = []
        self._clock = clock
        self.received = 0
        self.waited = 0.0
        self.refusal: ApiError | None = None
        self._complete = False

    @classmethod
    def for_request(cls, scope: Scope, receive: Receive, rules: BodyRules) -> BodyGuard:
        headers = _headers(scope)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        limit, streamed = rules.limit_for(scope["path"], content_type)
        return cls(receive, rules, limit, streamed=streamed)

    def declared_refusal(self, scope: Scope) -> ApiError | None:
        """413 when Content-Length already says the body is over the limit (nothing read yet)."""
        declared = _headers(scope).get(b"content-length")
        if declared is None:
            return None
        if not declared.isdigit():
            return ApiError("invalid_input", "Invalid Content-Length")
        if int(declared) > self.limit:
            return too_large(self.limit)
        return None

    async def read_ahead(self) -> None:
        """Read the whole body now (it is at most the limit); the app then receives it in one message."""
        body = bytearray()
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                self._ahead = [message]  # a disconnect (or the refusal), replayed to the app
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                self._ahead = [{"type": "http.request", "body": bytes(body), "more_body": False}]
                return

    async def receive(self) -> Message:
        """The next message for the app: the body counted and timed, `http.disconnect` once cut."""
        if self._ahead:
            return self._ahead.pop(0)
        if self.refusal is not None:
            return DISCONNECT
        if self._complete:
            return await self._receive()  # after the body: only the disconnect is left to wait for
        wait = self._allowed_wait()
        started = self._clock()
        try:
            if wait is None:
                message = await self._receive()
            else:
                async with asyncio.timeout(max(wait, 0.0)):
                    message = await self._receive()
        except TimeoutError:
            self.refusal = ApiError(
                "request_timeout", "The request body arrived too slowly; the upload was stopped", status=408
            )
            return DISCONNECT
        finally:
            self.waited += self._clock() - started
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refusal = too_large(self.limit)
                return DISCONNECT
            if not message.get("more_body", False):
                self._complete = True
        return message

    def _allowed_wait(self) -> float | None:
        """How long the next wait for body bytes may last: the idle limit, or less if the average
        rate would fall under the minimum before then."""
        rules = self.rules
        waits = []
        if rules.idle_seconds is not None and rules.idle_seconds > 0:
            waits.append(rules.idle_seconds)
        if rules.min_rate is not None and rules.min_rate > 0:
            # waiting W more seconds keeps the average at or above min_rate while
            # received / (waited + W) >= min_rate, and never counts against the grace period
            budget = max(rules.rate_grace_seconds, self.received / rules.min_rate)
            waits.append(budget - self.waited)
        return min(waits) if waits else None


def too_large(limit: int) -> ApiError:
    return ApiError("payload_too_large", f"The request body is larger than the limit of {limit} bytes")


class GuardedSend:
    """The app's `send`, replaced by the guard's refusal once the body was cut."""

    def __init__(self, send: Send, guard: BodyGuard, request_id: Callable[[], str]) -> None:
        self._send = send
        self._guard = guard
        self._request_id = request_id
        self.started = False  # a response (the app's or the refusal) has begun
        self._replaced = False

    async def __call__(self, message: Message) -> None:
        if self._replaced:
            return  # the rest of the app's answer to a request already refused
        if message["type"] == "http.response.start" and not self.started and self._guard.refusal is not None:
            self._replaced = True
            await self.refuse(self._guard.refusal)
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def refuse(self, err: ApiError, scope: Scope | None = None) -> None:
        """Answer `err` (the rest of the body is never read by the app); a timeout closes the connection."""
        self.started = self._replaced = True
        response = error_response(err, request_id=self._request_id())
        if err.status == 408:
            response.headers["connection"] = "close"
        await response(scope or {"type": "http"}, _no_receive, self._send)

    async def finish(self) -> None:
        """After the app returned: answer the refusal if the app answered nothing."""
        if not self.started and self._guard.refusal is not None:
            await self.refuse(self._guard.refusal)


async def _no_receive() -> Message:
    return DISCONNECT


class BodyLimitMiddleware:
    """The rules on every HTTP request of an app whose own middleware does not apply them (identity)."""

    def __init__(self, app: ASGIApp, rules: BodyRules) -> None:
        self.app = app
        self.rules = rules
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guard = BodyGuard.for_request(scope, receive, self.rules)
        out = GuardedSend(send, guard, lambda: self._request_id(scope))
        declared = guard.declared_refusal(scope)
        if declared is not None:
            await out.refuse(declared, scope)
            return
        if not guard.streamed:
            await guard.read_ahead()
            if guard.refusal is not None:
                await out.refuse(guard.refusal, scope)
                return
        await self.app(scope, guard.receive, out)
        await out.finish()

    def _request_id(self, scope: Scope) -> str:
        state = scope.setdefault("state", {})
        if not state.get("request_id"):
            given = _headers(scope).get(b"x-request-id")
            state["request_id"] = self._ids.accept(given.decode("latin-1") if given else None)
        return str(state["request_id"])
