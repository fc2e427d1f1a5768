"""Optional browser notifications: never asked for on load, asked once after the first submit,
and shown when a task finishes while the tab is hidden (the toast stays as well). The browser's
Notification and the tab's visibility are stood in for by a script, as headless Chromium has no
notification centre to look at."""

from __future__ import annotations

from typing import Any

from tests.e2e.ui.helpers import expect, task_card

FAKE_NOTIFICATIONS = """
window.__asked = 0;
window.__shown = [];
window.__hidden = false;
class FakeNotification {
  constructor(title, options) { window.__shown.push({ title, body: options?.body || "" }); }
  close() {}
}
FakeNotification.permission = "default";
FakeNotification.requestPermission = () => {
  window.__asked += 1;
  FakeNotification.permission = "granted";
  return Promise.resolve("granted");
};
window.Notification = FakeNotification;
Object.defineProperty(document, "hidden", { get: () => window.__hidden });
Object.defineProperty(document, "visibilityState", { get: () => (window.__hidden ? "hidden" : "visible") });
"""


def _generate(page: Any, prompt: str) -> Any:
    page.get_by_label("提示词", exact=True).fill(prompt)
    page.get_by_role("button", name="生成", exact=True).click()
    card = task_card(page, prompt)
    expect(card).to_have_attribute("data-status", "completed", timeout=30_000)
    return card


def test_notifications_are_asked_for_after_the_first_submit_and_shown_only_when_hidden(context: Any) -> None:
    context.add_init_script(FAKE_NOTIFICATIONS)
    page = context.new_page()
    page.goto("/")
    expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
    assert page.evaluate("window.__asked") == 0  # never on load

    page.get_by_role("tab", name="生成").click()
    _generate(page, "a lighthouse seen from the page")
    assert page.evaluate("window.__asked") == 1
    assert page.evaluate("window.__shown") == []  # the page is in view: the toast is enough
    expect(page.locator("#toasts")).to_contain_text("a lighthouse seen from the page：已完成")

    page.evaluate("window.__hidden = true")
    _generate(page, "a lighthouse while away")
    shown = page.evaluate("window.__shown")
    assert shown == [{"title": "a lighthouse while away：已完成", "body": "生成图片"}], shown
    assert page.evaluate("window.__asked") == 1  # asked once only
    expect(page.locator("#toasts")).to_contain_text("a lighthouse while away：已完成")  # the toast stays

    page.reload()  # a new page of the same visitor does not ask again
    expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
    page.get_by_role("tab", name="生成").click()
    _generate(page, "a lighthouse after a reload")
    assert page.evaluate("window.__asked") == 0
