"""The API docs page in a real browser: Swagger UI renders from the gateway's own files, and the
page asks nothing of any other origin."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.fixtures.served_product import ServedProduct


def test_the_docs_page_renders_from_its_own_origin_only(context: Any, product: ServedProduct) -> None:
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.goto("/docs")
    # Swagger UI rendered the schema: an operation of the API is on the page
    operation = page.locator(".opblock").filter(has_text="/api/tasks/create").first
    expect(operation).to_be_visible(timeout=20_000)
    expect(page.locator(".information-container .title")).to_contain_text("MediaCraft API")
    page.wait_for_load_state("networkidle")
    own = urlsplit(product.url)
    assert requested, "the page made no request"
    foreign = [
        url for url in requested if not url.startswith("data:") and urlsplit(url)[:2] != (own.scheme, own.netloc)
    ]
    assert not foreign, foreign
    assert any(url.endswith("/openapi.json") for url in requested)
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in requested)
