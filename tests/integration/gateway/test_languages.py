"""The API answers in the request's language: `?lang=`, else Accept-Language, else English."""

from __future__ import annotations

from pathlib import Path

from mediacraft.shared.error_texts import sentence
from tests.integration.gateway.client import create, data, envelope
from tests.integration.gateway.harness import Gateway

NOT_A_VIDEO = ("notes.mp4", b"just some words, not a video" * 40)


async def test_an_upload_refusal_reads_in_the_requests_language(gateway: Gateway) -> None:
    async with gateway.client() as c:
        task = await create(c, "watermark_removal")
        url = f"/api/tasks/{task['task_id']}/upload"
        answers = {}
        for name, headers, query in [
            ("zh", {"Accept-Language": "zh-CN,zh;q=0.9"}, ""),
            ("en", {"Accept-Language": "en-US,en;q=0.9"}, ""),
            ("none", {}, ""),
            ("choice", {"Accept-Language": "en-US"}, "?lang=zh"),
        ]:
            r = await c.post(url + query, files=[("file", (*NOT_A_VIDEO, "video/mp4"))], headers=headers)
            answers[name] = envelope(r)
        assert {a["error_code"] for a in answers.values()} == {"unsupported_format"}
        assert answers["zh"]["message"] == answers["choice"]["message"] == sentence("unsupported_format", "zh")
        assert "not a supported video" in answers["en"]["message"]
        assert answers["none"]["message"] == answers["en"]["message"]


async def test_a_framework_refusal_reads_in_chinese_too(gateway: Gateway) -> None:
    async with gateway.client(headers={"Accept-Language": "zh-CN"}) as c:
        r = await c.get("/api/tasks/not-a-uuid")
        assert envelope(r)["message"] == sentence(envelope(r)["error_code"], "zh")
        r = await c.post("/api/tasks/create", json={"task_type": "painting"})
        assert envelope(r)["message"] == sentence("unknown_task_type", "zh")


async def test_a_waiting_tasks_message_reads_in_the_requests_language(gateway: Gateway, clip: Path) -> None:
    async with gateway.client() as c:
        task = await create(c, "watermark_removal")
        r = await c.post(f"/api/tasks/{task['task_id']}/upload", files=[("file", (clip.name, clip.read_bytes()))])
        assert r.status_code == 200, r.text
        r = await c.post(f"/api/tasks/{task['task_id']}/config", json={"regions": [[1, 1, 20, 20]]})
        assert r.status_code == 202, r.text
        english = data(await c.get(f"/api/tasks/{task['task_id']}/status"))
        chinese = data(await c.get(f"/api/tasks/{task['task_id']}/status", headers={"Accept-Language": "zh-CN"}))
        listed = data(await c.get("/api/user/tasks?lang=zh"))
    assert english["message"] == "Waiting in the queue"
    assert chinese["message"] == "正在排队"
    assert [t["message"] for t in listed["tasks"] if t["task_id"] == task["task_id"]] == ["正在排队"]


async def test_the_user_info_names_the_language_a_first_visit_follows(gateway: Gateway) -> None:
    async with gateway.client() as c:
        assert data(await c.get("/api/user/info", headers={"Accept-Language": "zh-TW,zh;q=0.9"}))["lang"] == "zh"
        assert data(await c.get("/api/user/info", headers={"Accept-Language": "fr-FR,en;q=0.5"}))["lang"] == "en"
        assert data(await c.get("/api/user/info"))["lang"] == "en"
