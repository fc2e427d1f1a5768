"""The envelope on Starlette and FastAPI: the response, request ids, and the error handlers that
give every error (a route's, a typed error's, the framework's own, an unexpected one) the envelope.

Needs the `http` extra of mediacraft-shared; workers, which answer no HTTP, never import this.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediacraft.shared.error_texts import DEFAULT_LANG, Lang, localized, pick_lang
from mediacraft.shared.errors import MediaCraftError
from mediacraft.shared.http.envelope import (
    ApiError,
    RequestIds,
    code_of_status,
    encode,
    failure,
    from_domain,
    internal_error,
    success,
)
from mediacraft.shared.logging import get_logger

log = get_logger(__name__)
_fallback_ids = RequestIds()


class EnvelopeResponse(Response):
    """An envelope document as a JSON response with the document's `code` as its status."""

    media_type = "application/json"

    def __init__(self, doc: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(encode(doc), status_code=doc["code"], headers=dict(headers or {}), media_type=self.media_type)


def request_id_of(scope: Scope) -> str:
    """The id the request-id middleware gave this request (a new one if none ran)."""
    state = scope.setdefault("state", {})
    request_id = state.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        request_id = state["request_id"] = _fallback_ids.new()
    return request_id


def reply(
    request: Request, data: Any = None, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> EnvelopeResponse:
    """A success answer in the envelope; `status` is 200, or 201/202 for created and accepted."""
    return EnvelopeResponse(success(data, request_id=request_id_of(request.scope), status=status), headers=headers)


# The language of the request being answered; a service's outermost middleware sets it (see
# `request_lang`), and error answers and task views read it.
ANSWER_LANG: ContextVar[Lang] = ContextVar("answer_lang", default=DEFAULT_LANG)


def request_lang(scope: Scope) -> Lang:
    """The language a request is answered in: `?lang=` (the web UI's choice, for the requests that
    cannot carry headers, such as its event stream), else Accept-Language (which the web UI sets to
    its choice on every other request, and a browser to the person's languages), else English."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
    header = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"accept-language"), None)
    return pick_lang(query, header)


def error_response(err: ApiError, *, request_id: str, lang: Lang | None = None) -> EnvelopeResponse:
    """The envelope for an ApiError, with its headers (Retry-After and the like); its message in
    `lang` (by default the language of the request being answered) from the error table."""
    doc = failure(err, request_id=request_id)
    doc["message"] = localized(err.code, lang or ANSWER_LANG.get(), err.message)
    return EnvelopeResponse(doc, headers=err.headers)


# Every answer, JSON first among them, is taken for the type it declares (#16)
NOSNIFF = (b"x-content-type-options", b"nosniff")


def with_nosniff(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with X-Content-Type-Options: nosniff, unless a response set it already."""
    if any(k.lower() == NOSNIFF[0] for k, _ in headers):
        return headers
    return [*headers, NOSNIFF]


def host_allowed(host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a Host header names an allowed host: an exact name, or under a `.domain` entry;
    its port is ignored. No list allows any host."""
    if not allowed:
        return True
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[: name.find("]") + 1]
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    name = name.rstrip(".")
    return any(name == entry or (entry.startswith(".") and name.endswith(entry)) for entry in allowed)


class RequestIdMiddleware:
    """Gives each HTTP request an id (the caller's X-Request-ID if well formed) and echoes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = self._ids.accept(given)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_nosniff([*message.get("headers", ()), (b"x-request-id", request_id.encode())])
            await send(message)

        await self.app(scope, receive, send_with_id)


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app can answer, in the envelope with its stable code."""

    def answer(request: Request, err: ApiError) -> Response:
        return error_response(err, request_id=request_id_of(request.scope), lang=request_lang(request.scope))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return answer(request, exc)

    @app.exception_handler(MediaCraftError)
    async def _domain_error(request: Request, exc: MediaCraftError) -> Response:
        err = from_domain(exc)
        if err.status == 503:
            log.warning(
                "backend_unavailable",
                error=str(exc),
                code=exc.code,
                path=request.url.path,
                request_id=request_id_of(request.scope),
            )
        elif err.status >= 500:
            log.error("unexpected_domain_error", error=str(exc), code=exc.code)
        return answer(request, err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        message = f"Invalid request: {'.'.join(first['loc'])}: {first['msg']}"
        return answer(request, ApiError("validation_error", message, data={"errors": errors}))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        err = ApiError(
            code_of_status(exc.status_code), str(exc.detail), status=exc.status_code, headers=dict(exc.headers or {})
        )
        return answer(request, err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Starlette runs this outermost, past any middleware that adds the request id header;
        # it then re-raises, so the server logs the traceback as well.
        request_id = request_id_of(request.scope)
        log.error(
            "unexpected_error", error=repr(exc), method=request.method, path=request.url.path, request_id=request_id
        )
        err = internal_error()
        err.headers["x-request-id"] = request_id
        return answer(request, err)
