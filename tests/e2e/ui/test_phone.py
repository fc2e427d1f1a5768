"""At home on a 390 px phone, in both languages, checked by geometry: the Tasks tab is in view
without scrolling, no button wraps its label, messages never cover a control (every control is
the element at its own centre, with several messages shown), at most three messages show, a tap or
a swipe dismisses one, and hints speak of fingers, not of a mouse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ui.conftest import PHONE, watch_for_page_errors
from tests.e2e.ui.helpers import expect, task_card
from tests.fixtures.served_product import ServedProduct

LANGS = {
    "zh-CN": {"merge": "视频合并", "submit": "合并视频", "created": "任务创建成功"},
    "en-US": {"merge": "Merge", "submit": "Merge videos", "created": "Task created"},
}

CONTROLS = (
    "button, a[href]:not(.skip-link), input:not([type=file]), select, textarea, summary, label.button, [role=tab]"
)

# Every visible control, scrolled into view one by one: is it the element at its own centre?
# (A message, the top bar or anything else on top of it would be found there instead.)
UNCOVERED_JS = """(selector) => {
  const covered = [];
  const shown = [...document.querySelectorAll(selector)].filter((el) => el.getClientRects().length
    && getComputedStyle(el).visibility !== "hidden" && !el.closest(".visually-hidden"));
  for (const el of shown) {
    el.scrollIntoView({ block: "nearest", inline: "nearest" });
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const top = document.elementFromPoint(x, y);
    const ok = top && (top === el || el.contains(top) || (el.control && (top === el.control)));
    if (!ok) covered.push(`${el.outerHTML.slice(0, 80)} under ${top ? top.outerHTML.slice(0, 80) : "nothing"}`);
  }
  window.scrollTo(0, 0);
  return { checked: shown.length, covered };
}"""

# A label wraps when its text lies on more than one line, or is cut when it is wider than its box.
WRAPPED_JS = """(selector) => {
  const bad = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length || el.closest(".visually-hidden")) continue;
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.bottom)));
    const r = el.getBoundingClientRect();
    if (lines.size > 1 || el.scrollWidth > el.clientWidth + 1 || r.right > window.innerWidth + 0.5 || r.left < -0.5) {
      bad.push(`${el.textContent.trim()} (${lines.size} lines, ${Math.round(r.left)}..${Math.round(r.right)})`);
    }
  }
  return bad;
}"""


@pytest.fixture(params=list(LANGS), ids=["zh", "en"])
def phone(request: pytest.FixtureRequest, browser: Any, product: ServedProduct) -> Iterator[tuple[Any, str]]:
    """A new visitor on a touch phone whose browser speaks the language of the parameter."""
    ctx = browser.new_context(
        base_url=product.url, viewport=PHONE, locale=request.param, has_touch=True, is_mobile=True
    )
    problems = watch_for_page_errors(ctx)
    page = ctx.new_page()
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
    yield page, request.param
    ctx.close()
    assert not problems, problems


def many_messages(page: Any, count: int) -> None:
    """Show `count` different messages the way the app does (they stay a minute)."""
    page.evaluate(
        """async (count) => {
          const { toast } = await import(document.querySelector('link[href$="/toast.js"]').href);
          for (let i = 1; i <= count; i += 1) {
            toast(`Message ${i} with a few words in it`, { detail: i % 2 ? "and a detail line" : "", timeout: 60000 });
          }
        }""",
        count,
    )


def test_the_tasks_tab_is_in_view_without_scrolling(phone: tuple[Any, str], tmp_path: Path) -> None:
    page, lang = phone
    tab = page.locator("#tab-tasks")
    box = tab.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
    # the row of tabs does not scroll sideways: every tab is whole
    assert page.evaluate(
        "(() => { const n = document.querySelector('.tabs'); return n.scrollWidth <= n.clientWidth; })()"
    )
    assert page.evaluate(
        "(() => { const r = document.getElementById('tab-tasks').getBoundingClientRect();"
        " const el = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
        " return el.closest('#tab-tasks') !== null; })()"
    )
    tab.tap()
    expect(page.locator("#queue")).to_be_visible()
    page.screenshot(path=str(tmp_path / f"phone-tasks-{lang}.png"))


def test_no_button_wraps_its_label_on_any_tab(phone: tuple[Any, str], tmp_path: Path) -> None:
    page, lang = phone
    for name in ("watermark", "merge", "generate", "tasks"):
        page.locator(f"#tab-{name}").tap()
        expect(page.locator("body")).to_have_attribute("data-tab", name)
        assert page.evaluate(WRAPPED_JS, "button, label.button, [role=tab]") == [], name
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        page.screenshot(path=str(tmp_path / f"phone-{name}-{lang}.png"), full_page=True)


def test_hints_on_a_touch_phone_speak_of_fingers(phone: tuple[Any, str]) -> None:
    page, _ = phone
    texts = page.evaluate(
        "[...document.querySelectorAll('.hint')].map((el) => el.textContent).join(' ')"
        " + ' ' + document.getElementById('wm-canvas').getAttribute('aria-label')"
    )
    assert re.search(r"手指|finger", texts), texts
    assert not re.search(r"mouse|鼠标|click", texts, re.IGNORECASE), texts


def test_messages_after_a_merge_cover_no_control(
    phone: tuple[Any, str], clips: dict[str, Path], tmp_path: Path
) -> None:
    page, lang = phone
    words = LANGS[lang]
    page.locator("#tab-merge").tap()
    page.set_input_files("#merge-files", [str(clips["first"]), str(clips["second"])])
    expect(page.locator("#merge-list li")).to_have_count(2)
    page.get_by_role("button", name=words["submit"], exact=True).tap()
    expect(page.locator("#toasts")).to_contain_text(words["created"])
    many_messages(page, 4)  # more than fit: the oldest go
    expect(page.locator("#toasts .toast")).to_have_count(3)
    page.screenshot(path=str(tmp_path / f"phone-toasts-{lang}.png"))

    for name in ("merge", "generate", "tasks"):
        page.locator(f"#tab-{name}").tap()
        expect(page.locator("#toasts .toast")).to_have_count(3)
        found = page.evaluate(UNCOVERED_JS, CONTROLS)
        assert found["checked"] >= 4 and found["covered"] == [], (name, found)
        # and no message box overlaps a control's box
        overlaps = page.evaluate(
            """(selector) => {
              const boxes = [...document.querySelectorAll('#toasts .toast')].map((t) => t.getBoundingClientRect());
              return [...document.querySelectorAll(selector)].filter((el) => !el.closest('#toasts')
                && el.getClientRects().length).filter((el) => { const r = el.getBoundingClientRect();
                return boxes.some((b) => r.left < b.right && b.left < r.right
                  && r.top < b.bottom && b.top < r.bottom); })
                .map((el) => el.outerHTML.slice(0, 80));
            }""",
            CONTROLS,
        )
        assert overlaps == [], (name, overlaps)
    task_card(page, "first.mp4")  # the merge is in the list
    expect(page.locator("#task-list li.task").first).to_be_visible()


def test_a_message_goes_with_a_tap_or_a_swipe(phone: tuple[Any, str]) -> None:
    page, _ = phone
    many_messages(page, 3)
    toasts = page.locator("#toasts .toast")
    expect(toasts).to_have_count(3)
    toasts.nth(0).locator(".toast-title").tap()
    expect(toasts).to_have_count(2)
    box = toasts.nth(0).bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 100, y, steps=4)
    page.mouse.move(box["x"] + 180, y, steps=4)
    page.mouse.up()
    expect(toasts).to_have_count(1)
    # a short drag is neither: the message stays, back in its place
    box = toasts.nth(0).bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 40, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + 70, box["y"] + 10, steps=3)
    page.mouse.up()
    expect(toasts).to_have_count(1)
    assert toasts.nth(0).evaluate("(el) => el.style.transform") == ""


def test_a_merge_on_the_phone_ends_with_the_new_task_in_view(phone: tuple[Any, str], clips: dict[str, Path]) -> None:
    page, lang = phone
    page.locator("#tab-merge").tap()
    page.set_input_files("#merge-files", [str(clips["second"]), str(clips["first"])])
    expect(page.locator("#merge-list li")).to_have_count(2)
    page.get_by_role("button", name=LANGS[lang]["submit"], exact=True).tap()
    expect(page.locator("body")).to_have_attribute("data-tab", "tasks")
    card = task_card(page, "second.mp4 → first.mp4")
    expect(card).to_be_visible()
    box = card.bounding_box()
    bar = page.locator("#top-bar").bounding_box()
    assert box is not None and bar is not None
    assert box["y"] >= bar["y"] + bar["height"] - 1 and box["y"] < PHONE["height"], (box, bar)


@pytest.mark.parametrize("locale", list(LANGS), ids=["zh", "en"])
def test_on_a_desktop_messages_after_a_merge_cover_no_control(
    browser: Any, product: ServedProduct, clips: dict[str, Path], locale: str
) -> None:
    ctx = browser.new_context(base_url=product.url, viewport={"width": 1366, "height": 768}, locale=locale)
    problems = watch_for_page_errors(ctx)
    try:
        page = ctx.new_page()
        page.goto("/")
        expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
        page.locator("#tab-merge").click()
        page.set_input_files("#merge-files", [str(clips["first"]), str(clips["second"])])
        page.get_by_role("button", name=LANGS[locale]["submit"], exact=True).click()
        expect(page.locator("#toasts")).to_contain_text(LANGS[locale]["created"])
        many_messages(page, 4)
        expect(page.locator("#toasts .toast")).to_have_count(3)
        found = page.evaluate(UNCOVERED_JS, CONTROLS)
        assert found["checked"] >= 6 and found["covered"] == [], found
    finally:
        ctx.close()
    assert not problems, problems
