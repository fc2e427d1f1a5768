"""Writes a screenshot set of the web UI's main screens, in Chinese and English, on a desktop
(1366x768) and a phone (390x844), for review: `make screenshots` (into build/screenshots/).

Runs the whole product in this process (embedded adapters, a temporary data directory) and drives
Debian's Chromium with Playwright, as the browser tests do.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.media import make_clip  # noqa: E402
from tests.fixtures.served_product import ServedProduct  # noqa: E402

CHROMIUM = os.environ.get("MEDIACRAFT_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
LANGS = {"zh": "zh-CN", "en": "en-US"}
WAIT_MS = 30_000


def shoot(page: Any, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(path)


def screens(browser: Any, url: str, clips: dict[str, Path], out: Path, size: str, lang: str) -> None:
    """One visitor's tour: each tab empty, then filled, then the list with finished tasks."""
    phone = size == "phone"
    ctx = browser.new_context(
        base_url=url, viewport=SIZES[size], locale=LANGS[lang], has_touch=phone, is_mobile=phone, device_scale_factor=1
    )
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    prefix = f"{size}-{lang}"
    try:
        page.goto("/")
        page.wait_for_selector("#queue[data-loaded=true]", state="attached")
        shoot(page, out, f"{prefix}-01-first-visit")

        page.set_input_files("#wm-file", str(clips["watermarked"]))
        page.wait_for_selector("#wm-frame-wrap[data-state=ready]")
        page.locator("#wm-detect").click()
        page.locator("#wm-detect-state:not(:empty)").wait_for()  # the page's CSP allows no eval
        shoot(page, out, f"{prefix}-02-watermark-editor")

        page.locator("#tab-merge").click()
        page.set_input_files("#merge-files", [str(clips["first"]), str(clips["second"])])
        page.wait_for_selector("#merge-list li >> nth=1")
        shoot(page, out, f"{prefix}-03-merge-order")
        page.locator("#merge-submit").click()
        page.wait_for_selector("#toasts .toast")
        shoot(page, out, f"{prefix}-04-merge-submitted")

        page.locator("#tab-generate").click()
        prompt = "Waves at dusk" if lang == "en" else "黄昏的海浪"
        page.locator("#gen-prompt").fill(prompt)
        page.locator("#gen-submit").click()
        page.locator("#tab-tasks").click()
        page.locator("#task-list li.task[data-status=completed]").nth(1).wait_for()
        shoot(page, out, f"{prefix}-05-tasks")

        page.locator("#clear-finished").click()
        page.wait_for_selector("#toasts .toast-action")
        page.locator("#hidden-tasks summary").click()
        page.wait_for_selector("#hidden-list li")
        shoot(page, out, f"{prefix}-06-cleared-with-undo")

        page.locator("#tab-create").click()
        page.locator("#create-title").fill("Green tea" if lang == "en" else "绿茶")
        brief = "From the garden to the cup" if lang == "en" else "从茶园到茶杯"
        page.locator("#create-topic").fill(brief)
        page.locator("#create-seconds").fill("30")
        page.locator("#create-submit").click()
        page.wait_for_selector("#create-projects li.project .scene.pending")
        shoot(page, out, f"{prefix}-07-create-writing")
        page.wait_for_selector("#create-projects li.project[data-status=draft]")
        shoot(page, out, f"{prefix}-08-create-script")
    finally:
        ctx.close()


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mediacraft-screens-"))
    clips = {
        "watermarked": make_clip(work / "clip with logo.mp4", duration=2.0, watermark=(440, 24, 160, 60)),
        "first": make_clip(work / "first.mp4", width=320, height=240, duration=1.0),
        "second": make_clip(work / "second.mp4", width=320, height=240, duration=2.0),
    }
    product = ServedProduct(work / "data", web_ui=True, name="screenshots")
    product.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                for size in SIZES:
                    for lang in LANGS:
                        screens(browser, product.url, clips, out, size, lang)
            finally:
                browser.close()
    finally:
        product.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "screenshots")
