"""The task list tells the truth in words: status and stage read as one phrase, a retry that is
due says so (never "in 0 s"), and while the page is offline the time left stops and says it waits
for the connection. Task views are given to the page's own list as the live stream would."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.ui.helpers import expect, task_card

SHOW_JS = """async (view) => {
  const { upsert } = await import(document.querySelector('link[href$="/queue.js"]').href);
  upsert(view, { live: true });
}"""


def _view(prompt: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "task_id": uuid.uuid4().hex,
        "task_type": "image_generation",
        "version": 5,
        "created_at": now.isoformat(),
        "submitted_at": now.isoformat(),
        "config": {"prompt": prompt, "width": 512, "height": 512},
        "inputs": [],
        "hidden": False,
        **fields,
    }


def test_processing_reads_as_one_phrase_and_the_time_left_waits_while_offline(page: Any, context: Any) -> None:
    page.evaluate(SHOW_JS, _view("a slow picture", status="processing", progress=40, stage="process", eta_seconds=125))
    card = task_card(page, "a slow picture")
    expect(card.locator(".task-status")).to_have_text("处理中")
    expect(card.locator(".progress-text")).to_have_text(re.compile(r"^40% · 剩余约 2 分 0\d 秒$"))

    context.set_offline(True)
    try:
        expect(card.locator(".progress-text")).to_have_text("40% · 等待网络连接恢复")
    finally:
        context.set_offline(False)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    expect(card.locator(".progress-text")).to_have_text(re.compile(r"^40% · 剩余约 \d+ 分 \d\d 秒$"))

    # the other stages are named after the status
    page.evaluate(SHOW_JS, _view("a saved picture", status="processing", progress=95, stage="upload"))
    expect(task_card(page, "a saved picture").locator(".progress-text")).to_have_text("95% · 保存结果")


def test_a_retry_that_is_due_says_retrying_now(page: Any) -> None:
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    later = datetime.now(UTC) + timedelta(seconds=90)
    page.evaluate(
        SHOW_JS, _view("due now", status="retrying", retry_count=1, max_retries=3, next_retry_at=soon.isoformat())
    )
    page.evaluate(
        SHOW_JS, _view("due later", status="retrying", retry_count=1, max_retries=3, next_retry_at=later.isoformat())
    )
    expect(task_card(page, "due now").locator(".task-next-retry")).to_have_text("正在重试")
    expect(task_card(page, "due later").locator(".task-next-retry")).to_have_text(
        re.compile(r"^下次重试 .*（1 分 \d\d 秒后）$")
    )
    page.get_by_role("button", name="English").click()
    expect(task_card(page, "due now").locator(".task-next-retry")).to_have_text("Retrying now")
    assert " 0 s" not in page.locator("#task-list").inner_text()
