"""The queue in the browser: a waiting task says where it stands and why, can be cancelled and
retried; after a reload the same tasks are there and still update live; tasks that finished while
the visitor was away are announced once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ui.helpers import api_data, expect, task_card
from tests.fixtures.waiting import poll

BLOCKER = "a long sunrise timelapse"
WAITING = "a patient picture"


def _generate(page: Any, prompt: str, *, video: bool = False) -> None:
    page.get_by_role("tab", name="生成").click()
    if video:
        page.get_by_label("视频", exact=True).check()
        page.get_by_label("尺寸").select_option("1920x1080")
        page.get_by_label("时长（秒）").fill("30")
        page.get_by_label("帧率").select_option("30")
    else:
        page.get_by_label("图片", exact=True).check()
    page.get_by_label("提示词", exact=True).fill(prompt)
    page.get_by_role("button", name="生成", exact=True).click()


def _user_id(page: Any) -> str:
    return api_data(page.request.get("/api/user/info"))["user_id"]


@pytest.mark.slow
def test_a_waiting_task_can_be_cancelled_and_retried_and_the_queue_survives_a_reload(page: Any, tmp_path: Path) -> None:
    # a 30 s 1080p video keeps this visitor's one slot busy for the whole test
    _generate(page, BLOCKER, video=True)
    blocker = task_card(page, BLOCKER)
    try:
        expect(blocker).to_have_attribute("data-status", "processing")
        _generate(page, WAITING)
        waiting = task_card(page, WAITING)
        expect(waiting).to_have_attribute("data-status", "queued")
        expect(waiting.locator(".task-status")).to_have_text("待处理")
        expect(waiting.locator(".task-position")).to_have_text("排在第 1 位")
        expect(waiting.locator(".task-message")).to_have_text("请等待当前任务完成")

        # the running one: a progress bar with its stage and the time remaining
        expect(blocker.locator(".task-status")).to_have_text("处理中")
        expect(blocker.get_by_role("progressbar")).to_be_visible()
        # one phrase: the badge says 处理中, the progress line adds the time left, not 处理 again
        expect(blocker.locator(".progress-text")).to_contain_text("剩余约")
        expect(blocker.locator(".progress-text")).not_to_contain_text("处理")
        page.screenshot(path=str(tmp_path / "queue-waiting.png"), full_page=True)

        waiting.get_by_role("button", name=re.compile("^取消")).click()
        expect(waiting).to_have_attribute("data-status", "cancelled")
        expect(waiting.locator(".task-status")).to_have_text("已取消")
        expect(blocker).to_have_attribute("data-status", "processing")

        waiting.get_by_role("button", name=re.compile("^重试")).click()
        expect(waiting).to_have_attribute("data-status", "queued")
        expect(waiting.locator(".task-message")).to_have_text("请等待当前任务完成")

        # the same browser comes back: same identity, same tasks, still live
        who = _user_id(page)
        ids = page.locator("#task-list li.task").evaluate_all("cards => cards.map(c => c.dataset.taskId)")
        page.reload()
        expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
        expect(page.locator("#task-list li.task")).to_have_count(len(ids))
        assert page.locator("#task-list li.task").evaluate_all("cards => cards.map(c => c.dataset.taskId)") == ids
        assert _user_id(page) == who
        expect(waiting).to_have_attribute("data-status", "queued")
        expect(blocker).to_have_attribute("data-status", "processing")
        bar = blocker.get_by_role("progressbar")
        shown = bar.get_attribute("aria-valuenow")
        expect(bar).not_to_have_attribute("aria-valuenow", shown or "")

        blocker.get_by_role("button", name=re.compile("^取消")).click()
        expect(blocker).to_have_attribute("data-status", "cancelled")
        # the slot is free again: the waiting task runs and finishes, seen live
        expect(waiting).to_have_attribute("data-status", "completed", timeout=30_000)
        expect(waiting.get_by_role("link", name=re.compile("^下载"))).to_be_visible()
    finally:
        # whatever happened above, free the generation worker for the other tests
        task_id = blocker.get_attribute("data-task-id", timeout=1000) if blocker.count() else None
        if task_id:
            page.request.post(f"/api/tasks/{task_id}/cancel")


def test_tasks_that_finished_while_away_are_announced_once(context: Any) -> None:
    # submitted with this browser's cookie while no page is open, and finished before it opens one
    request = context.request
    task = api_data(
        request.post(
            "/api/tasks/submit",
            data={
                "task_type": "image_generation",
                "config": {"prompt": "made while away", "width": 256, "height": 256},
            },
        )
    )
    poll(
        lambda: api_data(request.get(f"/api/tasks/{task['task_id']}/status"))["status"] == "completed",
        timeout=30,
        what="the task to complete",
    )

    page = context.new_page()
    page.goto("/")
    expect(page.locator("#queue")).to_have_attribute("data-announced", "true")
    toast = page.locator("#toasts .toast", has_text="你离开期间有 1 个任务结束了")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("made while away：已完成")
    expect(task_card(page, "made while away")).to_have_attribute("data-status", "completed")
    assert api_data(request.get("/api/user/tasks?filter=unnotified"))["tasks"] == []

    page.reload()
    expect(page.locator("#queue")).to_have_attribute("data-announced", "true")
    expect(task_card(page, "made while away")).to_be_visible()
    expect(page.locator("#toasts .toast", has_text="你离开期间")).to_have_count(0)


def test_more_than_three_tasks_finished_while_away_are_named_three_and_counted(context: Any) -> None:
    request = context.request
    prompts = [f"away batch {n}" for n in range(4)]
    ids = [
        api_data(
            request.post(
                "/api/tasks/submit",
                data={
                    "task_type": "image_generation",
                    "config": {"prompt": prompt, "width": 256, "height": 256},
                },
            )
        )["task_id"]
        for prompt in prompts
    ]
    poll(
        lambda: all(api_data(request.get(f"/api/tasks/{i}/status"))["status"] == "completed" for i in ids),
        timeout=60,
        what="the four tasks to complete",
    )

    page = context.new_page()
    page.goto("/")
    toast = page.locator("#toasts .toast", has_text="你离开期间有 4 个任务结束了")
    expect(toast).to_be_visible()
    detail = toast.inner_text()
    assert sum(prompt in detail for prompt in prompts) == 3, detail
    assert "另有 1 个" in detail, detail


def test_the_list_can_show_one_status(page: Any) -> None:
    page.get_by_role("tab", name="生成").click()
    for prompt in ("a filtered lighthouse", "another filtered lighthouse"):
        page.get_by_label("提示词", exact=True).fill(prompt)
        page.get_by_role("button", name="生成", exact=True).click()
        expect(task_card(page, prompt)).to_have_attribute("data-status", "completed", timeout=30_000)
    done = task_card(page, "another filtered lighthouse")
    done.get_by_role("button", name="隐藏：another filtered lighthouse").click()
    cards = page.locator("#task-list li.task")
    expect(cards).to_have_count(1)
    filter_ = page.get_by_label("显示")
    filter_.select_option("failed")
    expect(cards).to_have_count(0)
    expect(page.locator("#queue-empty")).to_have_text("没有这种状态的任务。")
    filter_.select_option("completed")
    expect(cards).to_have_count(1)
    expect(task_card(page, "a filtered lighthouse")).to_be_visible()
    filter_.select_option("")
    expect(cards).to_have_count(1)
    page.get_by_role("button", name="English").click()
    expect(page.get_by_label("Show")).to_have_value("")
