"""The API docs page: Swagger UI served from the package (swagger-ui-bundle-v2), never from a CDN,
under a strict Content-Security-Policy; on or off by settings (docs_enabled, openapi_enabled).

The page has no inline script: its start-up code is a file of its own (/docs/init.js), so the
policy can say script-src 'self'.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

# Nothing but this origin; Swagger UI sets style attributes of its own, hence styles inline.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{docs}/init.js"></script>
</body>
</html>
"""

# validatorUrl null: Swagger UI would otherwise fetch a badge from validator.swagger.io
_INIT = """window.ui = SwaggerUIBundle({{
  url: {openapi!r},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
"""


def assets_dir() -> Path:
    """Where the installed Swagger UI's files are."""
    return Path(str(swagger_ui_bundle.swagger_ui_path))


def mount_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve the docs page, its start-up script and Swagger UI's files at /docs."""
    page = _PAGE.format(title=app.title, assets=ASSETS_PATH, docs=DOCS_PATH)
    init = _INIT.format(openapi=openapi_url)

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> Response:
        return HTMLResponse(page, headers=_HEADERS)

    @app.get(DOCS_PATH + "/init.js", include_in_schema=False)
    async def docs_init(request: Request) -> Response:
        return Response(init, media_type="text/javascript", headers=_HEADERS)

    app.mount(ASSETS_PATH, StaticFiles(directory=assets_dir()), name="docs-assets")
