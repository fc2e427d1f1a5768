"""Create (创作): a project's script written in the background appears scene by scene on its
timeline, survives a reload, and is announced once when the person comes back, in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.ui.helpers import expect
from tests.fixtures.waiting import poll

WORDS = {
    "zh": {
        "tab": "创作",
        "title": "标题",
        "topic": "主题或简介",
        "seconds": "目标长度（秒）",
        "submit": "撰写脚本",
        "scene1": "场景 1",
        "away": "你离开时，一个脚本已经完成",
        "task_away": "你离开期间有 1 个任务结束了",
        "draft": "草稿",
    },
    "en": {
        "tab": "Create",
        "title": "Title",
        "topic": "Topic or brief",
        "seconds": "Target length (seconds)",
        "submit": "Write script",
        "scene1": "Scene 1",
        "away": "A script finished while you were away",
        "task_away": "1 task finished while you were away",
        "draft": "Draft",
    },
}
SCRIPT_WAIT_MS = 60_000


def open_create(page: Any, language: str) -> dict[str, str]:
    if language == "en":
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    words = WORDS[language]
    page.get_by_role("tab", name=words["tab"]).click()
    expect(page.locator("#panel-create")).to_be_visible()
    return words


def ask_for_script(page: Any, words: dict[str, str], title: str, seconds: int) -> Any:
    page.get_by_label(words["title"], exact=True).fill(title)
    page.get_by_label(words["topic"]).fill("Picking. Withering. Rolling. Drying. Brewing. Tasting. Storing.")
    page.get_by_label(words["seconds"]).fill(str(seconds))
    page.get_by_role("button", name=words["submit"]).click()
    card = page.locator("#create-projects li.project", has_text=title)
    expect(card).to_have_count(1)
    return card


@pytest.mark.slow
@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_script_appears_scene_by_scene_and_survives_a_reload(page: Any, language: str) -> None:
    words = open_create(page, language)
    card = ask_for_script(page, words, f"Green tea ({language})", 80)  # 8 scenes, half a second each
    expect(card).to_have_attribute("data-status", "generating_script")
    # the timeline fills in while the script is written: a slot per scene, written ones marked
    expect(card.locator(".scene.pending")).to_have_count(8, timeout=SCRIPT_WAIT_MS)
    expect(card.locator('.scene[data-state="written"]').first).to_be_visible(timeout=SCRIPT_WAIT_MS)
    # then the scenes themselves
    expect(card).to_have_attribute("data-status", "draft", timeout=SCRIPT_WAIT_MS)
    scenes = card.locator('.scene[data-state="ready"]')
    expect(scenes).to_have_count(8)
    expect(scenes.first).to_contain_text(words["scene1"])
    expect(scenes.first.locator(".scene-narration")).to_contain_text("Green tea")
    seconds = [float(s.split()[0]) for s in scenes.locator(".scene-seconds").all_inner_texts()]
    assert round(sum(seconds), 1) == 80
    narration = scenes.locator(".scene-narration").all_inner_texts()

    page.reload()
    expect(page.locator("#create-projects")).to_have_attribute("data-loaded", "true")
    page.get_by_role("tab", name=words["tab"]).click()
    again = page.locator("#create-projects li.project", has_text=f"Green tea ({language})")
    expect(again.locator('.scene[data-state="ready"] .scene-narration')).to_have_text(narration)
    expect(again.locator(".project-status")).to_have_text(words["draft"])
    # watched while it was written: nothing to announce on return
    expect(page.locator("#create-projects")).to_have_attribute("data-announced", "true")
    expect(page.locator("#toasts")).not_to_contain_text(words["away"])


@pytest.mark.slow
@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_script_finished_while_away_is_announced_once(page: Any, context: Any, language: str) -> None:
    words = open_create(page, language)
    title = f"Oolong ({language})"
    card = ask_for_script(page, words, title, 30)
    expect(card).to_have_attribute("data-status", "generating_script")
    project_id = card.get_attribute("data-project-id")
    page.close()  # the person leaves while the script is being written

    status = f"/api/video-creation/projects/{project_id}/status"
    request = context.request

    def finished() -> dict[str, Any] | None:
        view: dict[str, Any] = request.get(status).json()["data"]
        return view if view["status"] != "generating_script" else None

    view = poll(finished, timeout=SCRIPT_WAIT_MS / 1000, what="the script, written while away")
    assert view["status"] == "draft" and view["notified"] is False

    back = context.new_page()
    back.goto("/")
    expect(back.locator("#create-projects")).to_have_attribute("data-announced", "true")
    expect(back.locator("#toasts")).to_contain_text(words["away"])
    expect(back.locator("#toasts")).to_contain_text(title)
    expect(back.locator("#queue")).to_have_attribute("data-announced", "true")
    expect(back.locator("#toasts")).not_to_contain_text(words["task_away"])  # once: by its project, not as a task
    assert request.get(status).json()["data"]["notified"] is True

    back.reload()
    expect(back.locator("#create-projects")).to_have_attribute("data-announced", "true")
    expect(back.locator("#toasts")).not_to_contain_text(words["away"])
    back.get_by_role("tab", name=words["tab"]).click()
    expect(
        back.locator("#create-projects li.project", has_text=title).locator('.scene[data-state="ready"]')
    ).to_have_count(3)
