"""Fixtures of the browser suite: the product served on a free port, Debian's Chromium driven by
Playwright (never a downloaded browser), one fresh browser context (a new visitor) per test, and
sample clips made with ffmpeg."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ui.helpers import expect
from tests.fixtures.availability import unavailable
from tests.fixtures.media import make_clip
from tests.fixtures.served_product import ServedProduct

CHROMIUM = os.environ.get("MEDIACRAFT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
EXPECT_TIMEOUT_MS = 20_000


@pytest.fixture(scope="package")
def playwright_api() -> Iterator[Any]:
    """Playwright's sync API, or unavailable when the package or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)")
    if shutil.which("ffmpeg") is None:
        unavailable("ffmpeg is not installed")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright_api: Any) -> Iterator[Any]:
    """Headless Debian Chromium; the same process serves every test (contexts keep them apart)."""
    try:
        browser = playwright_api.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception as exc:  # a broken install: same treatment as a missing one
        unavailable(f"Chromium at {CHROMIUM} does not start: {exc}")
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProduct]:
    """The whole product in one process (embedded adapters, default quotas: 1 per user, 5 in all)."""
    served = ServedProduct(tmp_path_factory.mktemp("ui-standalone"), web_ui=True, name="ui-standalone")
    served.start()
    yield served
    served.stop()


def watch_for_page_errors(ctx: Any) -> list[str]:
    """Collect uncaught script errors and Content-Security-Policy refusals of every page of `ctx`."""
    problems: list[str] = []

    def watch(page: Any) -> None:
        page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
        page.on(
            "console",
            lambda msg: (
                problems.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )

    ctx.on("page", watch)
    return problems


@pytest.fixture
def context(browser: Any, product: ServedProduct) -> Iterator[Any]:
    """A new visitor: a fresh context has no cookie and no local storage. Its pages must raise no
    script error and trip no Content-Security-Policy rule."""
    ctx = browser.new_context(base_url=product.url, viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    problems = watch_for_page_errors(ctx)
    yield ctx
    ctx.close()
    assert not problems, problems


@pytest.fixture
def page(context: Any) -> Any:
    """The visitor's page, opened at "/" with the app started."""
    page = context.new_page()
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
    return page


@pytest.fixture(scope="package")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short generated clips: one with a watermark box, and two of different lengths to merge."""
    root = tmp_path_factory.mktemp("ui-media")
    return {
        "watermarked": make_clip(root / "clip with logo.mp4", duration=2.0, watermark=(440, 24, 160, 60)),
        "first": make_clip(root / "first.mp4", width=320, height=240, duration=1.0),
        "second": make_clip(root / "second.mp4", width=320, height=240, duration=2.0),
    }
