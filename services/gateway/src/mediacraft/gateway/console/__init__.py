"""The operator console: its page at /ops/ and its API at /ops/api, on the gateway, behind operator
authentication (README "Operator console").

Why on the gateway rather than a service of its own: everything the console reads and does goes
through adapters the gateway already holds (the task store, the bus) and paths it already has
(a user's cancel and retry, the envelope, the host check, request ids), and the single-process
mode serves it with no extra port. It stays apart from the end-user product: its own path, page,
script and cookie (Path=/ops, SameSite=Strict), no user identity is minted for /ops requests,
its routes are not in the public API schema, and with neither MEDIACRAFT_OPERATOR_TOKEN nor
MEDIACRAFT_OPERATOR_USER_HEADER set it does not exist (404). A deployment that wants it off the
public address keeps /ops off its public ingress and reaches it through an internal one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

from mediacraft.gateway.console.routes import console_enabled, router
from mediacraft.gateway.webui import SECURITY_HEADERS

STATIC = Path(__file__).parent / "static"
FILES = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "X-Robots-Tag": "noindex"}


def mount_console(app: FastAPI) -> None:
    """Serve the console's page, assets and API on `app` (each request checks that it is on)."""
    page = (STATIC / "console.html").read_bytes()
    assets = {name: (STATIC / name).read_bytes() for name in FILES}
    app.include_router(router)

    async def index(request: Request) -> Response:
        console_enabled(request)
        return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def asset(request: Request, name: str) -> Response:
        console_enabled(request)
        body = assets.get(name)
        if body is None:
            return Response("Not found", status_code=404, media_type="text/plain; charset=utf-8")
        return Response(body, media_type=FILES[name], headers={"Cache-Control": "no-cache"})

    app.add_api_route("/ops", index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ops/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/ops/static/{name}", asset, methods=["GET"], include_in_schema=False)


__all__ = ["mount_console"]
