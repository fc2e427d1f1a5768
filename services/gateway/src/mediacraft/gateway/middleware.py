"""The ASGI layer every request passes: request id, metrics, the body's limits, cross-site
refusal, rate limits and cookie identity.

Plain ASGI rather than BaseHTTPMiddleware: it costs a few microseconds per request and never
buffers a streamed upload or an SSE stream. Order matters and is deliberate: a declared body over
its limit, a cross-site or a rate-limited request is refused before it can mint an identity, so
refusals create nothing. Every body of every route is read through a `BodyGuard`
(`mediacraft.shared.http.body_limit`): counted against the route's limit and cut when it stalls;
a body other than an upload's is read whole (it is small) before identity and the route.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.cookies import read_cookie
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.origin import cross_site_reason
from mediacraft.gateway.ratelimit import retry_after
from mediacraft.shared.errors import RetryableError
from mediacraft.shared.http.asgi import ANSWER_LANG, error_response, host_allowed, request_lang, with_nosniff
from mediacraft.shared.http.body_limit import BodyGuard, BodyRules, GuardedSend
from mediacraft.shared.http.envelope import RequestIds
from mediacraft.shared.logging import bound_contextvars, get_logger
from mediacraft.shared.messages import UserSeen
from mediacraft.shared.topology import EVENTS
from mediacraft.shared.tracing import SpanKind, Status, StatusCode, following, get_tracer

log = get_logger(__name__)
TRACER = get_tracer("mediacraft.gateway")
# probes from the orchestrator name the pod's address, not the public host
_PROBES = frozenset({"/healthz", "/readyz"})
_WANTED_HEADERS = frozenset({b"x-request-id", b"origin", b"sec-fetch-site", b"host", b"cookie"})


class GatewayMiddleware:
    """Wraps the FastAPI app; sets scope["state"]["user_id"] for every /api request."""

    def __init__(self, app: ASGIApp, ctx: GatewayContext, body_rules: BodyRules) -> None:
        self.app = app
        self.ctx = ctx
        self.body_rules = body_rules
        self._allowed_origins = ctx.settings.allowed_origin_list
        self._allowed_hosts = ctx.settings.allowed_host_list
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _WANTED_HEADERS}
        request_id = self._ids.accept(headers.get("x-request-id"))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        extra: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id.encode())]
        status = [500]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = with_nosniff([*message.get("headers", ()), *extra])
            await send(message)

        guard = BodyGuard.for_request(scope, receive, self.body_rules)
        out = GuardedSend(send_with_headers, guard, lambda: request_id)
        lang = ANSWER_LANG.set(request_lang(scope))
        try:
            if not host_allowed(headers.get("host"), self._allowed_hosts) and scope["path"] not in _PROBES:
                self.ctx.metrics.refused.labels("host").inc()
                err = ApiError("invalid_host", "Unknown host; this server does not answer for it")
                await error_response(err, request_id=request_id)(scope, receive, send_with_headers)
                return
            refusal = guard.declared_refusal(scope)
            if refusal is None and not guard.streamed:
                await guard.read_ahead()  # small bodies: whole before any route acts on them
                refusal = guard.refusal
            if refusal is not None:
                self.ctx.metrics.refused.labels(refusal.code).inc()
                await out.refuse(refusal, scope)
                return
            if scope["path"].startswith("/api/"):
                try:
                    user_id = await self._identify(scope, headers, extra)
                except ApiError as err:
                    response = error_response(err, request_id=request_id)
                    await response(scope, receive, send_with_headers)
                    return
                state["user_id"] = user_id
                with (
                    bound_contextvars(request_id=request_id, user_id=user_id),
                    request_span(scope, request_id, status),
                    following(scope["method"]),
                ):
                    await self.app(scope, guard.receive, out)
            else:
                with bound_contextvars(request_id=request_id):
                    await self.app(scope, guard.receive, out)
            await out.finish()
            if guard.refusal is not None:
                self.ctx.metrics.refused.labels(guard.refusal.code).inc()
        finally:
            ANSWER_LANG.reset(lang)
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.ctx.metrics.requests.labels(scope["method"], template, str(status[0])).inc()
            self.ctx.metrics.latency.labels(template).observe(time.perf_counter() - started)

    async def _identify(self, scope: Scope, headers: dict[str, str], extra: list[tuple[bytes, bytes]]) -> str:
        ctx = self.ctx
        reason = cross_site_reason(
            scope["method"],
            origin=headers.get("origin"),
            sec_fetch_site=headers.get("sec-fetch-site"),
            host=headers.get("host"),
            allowed=self._allowed_origins,
        )
        if reason is not None:
            ctx.metrics.refused.labels("cross_site").inc()
            raise ApiError("forbidden_origin", f"Refused: {reason}")
        ip = client_ip(scope)
        wait = ctx.ip_limiter.acquire(ip)
        if wait:
            ctx.metrics.refused.labels("ip_rate").inc()
            raise ApiError("rate_limited", "Too many requests; slow down", headers={"Retry-After": retry_after(wait)})
        now = ctx.clock.now()
        found = ctx.signer.verify(read_cookie(headers.get("cookie"), ctx.cookie.name), now)
        if found is None:
            user_id = await self._mint(ip)
            self._set_cookie(extra, user_id, now)
        else:
            user_id = found.user_id
            if (now - found.issued_at).total_seconds() >= ctx.settings.cookie_renew_after_seconds:
                self._set_cookie(extra, user_id, now)  # sliding expiry
        wait = ctx.user_limiter.acquire(user_id)
        if wait:
            ctx.metrics.refused.labels("user_rate").inc()
            raise ApiError("rate_limited", "Too many requests; slow down", headers={"Retry-After": retry_after(wait)})
        if found is not None and not ctx.seen_limiter.acquire(user_id):
            ctx.spawn(ctx.publish(EVENTS, UserSeen.TYPE, UserSeen(user_id=user_id, at=now), mandatory=False))
        return user_id

    async def _mint(self, ip: str) -> str:
        ctx = self.ctx
        wait = ctx.identity_limiter.acquire(ip)
        if wait:
            ctx.metrics.refused.labels("new_identities").inc()
            raise ApiError(
                "too_many_identities",
                "Too many new visitors from this address; try again later",
                headers={"Retry-After": retry_after(wait)},
            )
        try:
            user_id = await ctx.identity.mint()
        except RetryableError as exc:
            log.warning("identity_unavailable", error=exc.message)
            raise ApiError(
                "unavailable", "Identity service unavailable; try again", headers={"Retry-After": "5"}
            ) from None
        ctx.metrics.identities_minted.inc()
        return user_id

    def _set_cookie(self, extra: list[tuple[bytes, bytes]], user_id: str, now: Any) -> None:
        value = self.ctx.signer.sign(user_id, now)
        extra.append((b"set-cookie", self.ctx.cookie.header(value).encode("latin-1")))


@contextmanager
def request_span(scope: Scope, request_id: str, status: list[int]) -> Iterator[None]:
    """The request's server span, current while the route runs; named by its route once routed.

    The gateway is where a task's trace begins, so a client's own traceparent header is not
    continued: the request that creates a task makes the task's trace (mediacraft.shared.tracing).
    """
    method = scope["method"]
    attributes = {"http.request.method": method, "url.path": scope["path"], "mediacraft.request_id": request_id}
    with TRACER.start_as_current_span(f"{method} /api", kind=SpanKind.SERVER, attributes=attributes) as span:
        try:
            yield
        finally:
            template = getattr(scope.get("route"), "path", None)
            if template:
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", status[0])
            if status[0] >= 500:
                span.set_status(Status(StatusCode.ERROR))


def client_ip(scope: Scope) -> str:
    """The client address (uvicorn rewrites it from X-Forwarded-For for trusted proxies only)."""
    client = scope.get("client")
    return client[0] if client else "unknown"
