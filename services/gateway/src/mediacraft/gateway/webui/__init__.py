"""The browser interface the gateway serves: index.html at "/" and its assets under "/ui/".

Plain ES modules, no build step and nothing fetched from elsewhere at run time. The page talks to
the same origin's /api only, so the gateway's cross-site refusal and HttpOnly cookie apply as-is.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mediacraft.gateway.webui.assets import Asset, AssetBundle

ASSET_PREFIX = "/ui"
# index.html is revalidated on every visit (cheap: ETag), so a release is picked up at once;
# versioned assets never change under their path.
INDEX_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=31536000, immutable"
# A page loaded before a release may still ask for an old version: it gets today's file, uncached.
STALE_ASSET_CACHE = "no-cache"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _answer(request: Request, asset: Asset, cache_control: str, *, security: bool = False) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if security:
        headers.update(SECURITY_HEADERS)
    if asset.etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else asset.body
    response = Response(body, media_type=asset.media_type, headers=headers)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(asset.body))
    return response


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _not_found() -> Response:
    return Response(
        "Not found",
        status_code=404,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def mount_web_ui(app: FastAPI) -> None:
    """Serve the web UI on `app`: "/" and "/ui/<version>/<file>". Calling it twice changes nothing."""
    if getattr(app.state, "web_ui", None) is not None:
        return
    bundle = AssetBundle.load()
    app.state.web_ui = bundle

    async def index(request: Request) -> Response:
        return _answer(request, bundle.index, INDEX_CACHE, security=True)

    async def assets(scope: Scope, receive: Receive, send: Send) -> None:
        # a mounted app owns everything under /ui: no slash redirects, one answer for the unknown
        request = Request(scope, receive)
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]  # the mount's prefix is part of root_path, not of the asset's name
        version, _, name = path.lstrip("/").partition("/")
        found = bundle.files.get(name) if request.method in ("GET", "HEAD") else None
        if found is None:
            response = _not_found()
        else:
            response = _answer(request, found, ASSET_CACHE if version == bundle.version else STALE_ASSET_CACHE)
        await response(scope, receive, send)

    app.add_api_route("/", index, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(ASSET_PREFIX, assets, name="web-ui-assets")


__all__ = ["ASSET_PREFIX", "AssetBundle", "mount_web_ui"]
