"""The video-creation API (/api/video-creation/...) on the embedded adapters, the test playing the
scheduler and the generate worker by writing the script task's transitions as they would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from mediacraft.shared import transitions
from mediacraft.shared.messages import Envelope, SubmitTask, TaskStatusChanged
from mediacraft.shared.scripts import Scene, Script
from mediacraft.shared.tasks import ResultFile, TaskError, TaskStatus, TaskType
from mediacraft.shared.topology import EVENTS
from tests.integration.gateway.client import SseReader, data, user_id_of
from tests.integration.gateway.flows import wait_for_no_subscribers
from tests.integration.gateway.harness import Gateway, settled, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE = "/api/video-creation"
BRIEF = {"title": "Green tea", "topic": "How green tea is picked, dried and rolled.", "targetSeconds": 30}


@pytest.fixture(scope="module")
def gw(module_gateway: Gateway) -> Gateway:
    """Shared by the module; each test works as its own new visitor."""
    return module_gateway


async def new_project(c: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    r = await c.post(f"{BASE}/projects", json={**BRIEF, **fields})
    assert r.status_code == 201, r.text
    return data(r)


async def start(c: httpx.AsyncClient, project_id: str) -> dict[str, Any]:
    r = await c.post(f"{BASE}/projects/{project_id}/script")
    assert r.status_code == 202, r.text
    return data(r)


async def status_of(c: httpx.AsyncClient, project_id: str) -> dict[str, Any]:
    r = await c.get(f"{BASE}/projects/{project_id}/status")
    assert r.status_code == 200, r.text
    return data(r)


def script_of(total: float) -> Script:
    third = round(total / 3, 1)
    durations = [third, third, round(total - 2 * third, 1)]
    scenes = [
        Scene(number=n, narration=f"Line {n}", shot=f"Shot {n}", duration_seconds=d) for n, d in enumerate(durations, 1)
    ]
    return Script(
        title="Green tea", language="en", style="informative", total_seconds=total, scenes=scenes, provider="local",
        made_without_model=True, note="Written offline",
    )  # fmt: skip


async def dispatch(gw: Gateway, task_id: str) -> None:
    task = await gw.store.get(task_id)
    assert task is not None and task.status is TaskStatus.QUEUED
    await gw.store.transition(
        task_id, transitions.DISPATCH, expected_version=task.version, changes={"attempts": task.attempts + 1}
    )


async def complete(gw: Gateway, task_id: str, total: float) -> Script:
    task = await gw.store.get(task_id)
    assert task is not None
    if task.status is TaskStatus.QUEUED:
        await dispatch(gw, task_id)
        task = await gw.store.get(task_id)
    script = script_of(total)
    result = ResultFile(
        key=f"results/{task_id}/1/script.json",
        size=10,
        content_type="application/json",
        filename="script.json",
        info={"provider": "local", "script": script.model_dump(mode="json")},
    )
    changes = {"progress": 100.0, "completed_at": gw.clock.now(), "result": result}
    await gw.store.transition(task_id, transitions.COMPLETE, expected_version=task.version, changes=changes)
    return script


async def test_creating_answers_201_with_the_project_and_its_defaults(gw: Gateway) -> None:
    async with gw.client() as c:
        made = await new_project(c)
        assert len(made["id"]) == 36 and made["id"].count("-") == 4
        assert {k: made[k] for k in ("title", "topic", "targetSeconds", "language", "style", "status")} == {
            "title": "Green tea",
            "topic": BRIEF["topic"],
            "targetSeconds": 30,
            "language": "en",
            "style": "informative",
            "status": "draft",
        }
        assert made["scriptData"] is None and made["progress"] == 0 and made["createdAt"].endswith("Z")
        bare = await c.post(f"{BASE}/projects", json={"title": "T", "topic": "A topic"})
        assert bare.status_code == 201 and data(bare)["targetSeconds"] == 60
        chinese = await c.post(
            f"{BASE}/projects",
            json={"title": "绿茶", "topic": "绿茶的制作"},
            headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        )
        assert data(chinese)["language"] == "zh"
        r = await c.get(f"{BASE}/projects/{made['id']}")
        assert r.status_code == 200 and data(r)["id"] == made["id"] and data(r)["title"] == "Green tea"
        listed = await c.get(f"{BASE}/projects")
        assert [p["id"] for p in data(listed)["projects"]] == [data(chinese)["id"], data(bare)["id"], made["id"]]
        assert data(listed)["nextCursor"] is None
        page = await c.get(f"{BASE}/projects", params={"limit": 2})
        assert len(data(page)["projects"]) == 2 and data(page)["nextCursor"]
        rest = await c.get(f"{BASE}/projects", params={"limit": 2, "cursor": data(page)["nextCursor"]})
        assert [p["id"] for p in data(rest)["projects"]] == [made["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"topic": "no title"}, "title"),
        ({"title": "no topic"}, "topic"),
        ({"title": "   ", "topic": "blank title"}, "title"),
        ({**BRIEF, "targetSeconds": 2}, "targetSeconds"),
        ({**BRIEF, "targetSeconds": "long"}, "targetSeconds"),
        ({**BRIEF, "language": "fr"}, "language"),
        ({**BRIEF, "style": "x" * 61}, "style"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field_and_creates_nothing(gw: Gateway, body: dict, field: str) -> None:
    async with gw.client() as c:
        await c.get("/api/user/info")
        r = await c.post(f"{BASE}/projects", json=body)
        assert r.status_code == 422 and r.json()["error_code"] == "validation_error"
        assert field in r.json()["message"]
        assert data(await c.get(f"{BASE}/projects"))["projects"] == []


async def test_a_body_that_is_not_json_is_422(gw: Gateway) -> None:
    async with gw.client() as c:
        r = await c.post(f"{BASE}/projects", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["success"] is False


async def test_a_body_over_the_json_limit_is_413(gw: Gateway) -> None:
    async with gw.client() as c:
        big = {**BRIEF, "topic": "x" * (gw.ctx.settings.max_json_body_bytes + 10)}
        r = await c.post(f"{BASE}/projects", json=big)
        assert r.status_code == 413 and r.json()["error_code"] == "payload_too_large"


async def test_starting_answers_202_at_once_with_an_ordinary_queued_task(gw: Gateway) -> None:
    async with gw.client() as c:
        project = await new_project(c)
        started = await start(c, project["id"])
        assert started["status"] == "generating_script" and started["taskStatus"] == "queued"
        assert started["progress"] == 0 and started["progressMessage"]
        task = await gw.store.get(started["scriptTaskId"])
        assert task is not None and task.task_type is TaskType.VIDEO_SCRIPT and task.status is TaskStatus.QUEUED
        assert task.config["project_id"] == project["id"] and task.config["target_seconds"] == 30
        submitted = [m.open() for m in gw.inbox.messages if m.correlation_id == task.task_id]
        assert any(isinstance(m, SubmitTask) and m.task_type is TaskType.VIDEO_SCRIPT for m in submitted)
        # an ordinary task: in the task list with its type
        listed = data(await c.get("/api/user/tasks", params={"type": "video_script"}))["tasks"]
        assert [(t["task_id"], t["task_type"]) for t in listed] == [(task.task_id, "video_script")]


async def test_a_second_start_while_one_runs_is_409_and_creates_nothing(gw: Gateway) -> None:
    async with gw.client() as c:
        project = await new_project(c)
        first = await start(c, project["id"])
        before = await snapshot(gw)
        again = await c.post(f"{BASE}/projects/{project['id']}/script")
        assert again.status_code == 409 and again.json()["error_code"] == "script_in_progress"
        assert "already being written" in again.json()["message"]
        await settled(gw)
        assert await snapshot(gw) == before
        await dispatch(gw, first["scriptTaskId"])  # running: still 409
        assert (await c.post(f"{BASE}/projects/{project['id']}/script")).status_code == 409


async def test_another_users_project_is_404_everywhere(gw: Gateway) -> None:
    async with gw.client() as alice, gw.client() as bob:
        project = await new_project(alice)
        await start(alice, project["id"])
        before = await snapshot(gw)
        for method, path in [
            ("GET", f"{BASE}/projects/{project['id']}"),
            ("GET", f"{BASE}/projects/{project['id']}/status"),
            ("POST", f"{BASE}/projects/{project['id']}/script"),
            ("POST", f"{BASE}/projects/{project['id']}/notified"),
            ("GET", f"{BASE}/projects/{'0' * 8}-0000-4000-8000-{'0' * 12}"),
        ]:
            r = await bob.request(method, path)
            assert r.status_code == 404 and r.json()["error_code"] == "not_found", (method, path)
        assert data(await bob.get(f"{BASE}/projects"))["projects"] == []
        assert data(await bob.get(f"{BASE}/unfinished"))["projects"] == []
        assert await snapshot(gw) == before
        bad = await bob.get(f"{BASE}/projects/not-an-id/status")
        assert bad.status_code == 422 and bad.json()["error_code"] == "invalid_project_id"


async def test_the_status_follows_the_script_task_to_a_script(gw: Gateway) -> None:
    async with gw.client() as c:
        project = await new_project(c)
        task_id = (await start(c, project["id"]))["scriptTaskId"]
        await dispatch(gw, task_id)
        task = await gw.store.get(task_id)
        await gw.store.update_progress(task_id, attempt=1, progress=40, message="writing scene 2 of 3")
        running = await status_of(c, project["id"])
        assert (running["status"], running["progress"], running["progressMessage"]) == (
            "generating_script", 40, "writing scene 2 of 3"
        )  # fmt: skip
        assert running["scriptData"] is None and running["completedAt"] is None
        assert running["sceneProgress"] == {"current": 2, "total": 3}
        assert task is not None
        script = await complete(gw, task_id, 30)
        done = await status_of(c, project["id"])
        assert (done["status"], done["progress"], done["progressMessage"]) == ("draft", 100, "script ready")
        assert done["completedAt"] and done["notified"] is False
        scenes = done["scriptData"]["scenes"]
        assert [s["narration"] for s in scenes] == [s.narration for s in script.scenes]
        assert round(sum(s["durationSeconds"] for s in scenes), 1) == 30
        assert done["scriptData"]["madeWithoutModel"] is True and done["scriptData"]["totalSeconds"] == 30
        # kept on the project: the same on the project itself and in the list
        assert data(await c.get(f"{BASE}/projects/{project['id']}"))["scriptData"] == done["scriptData"]
        stored = await gw.store.get_project(project["id"], task.user_id)
        assert stored is not None and stored.script == script and stored.script_from_task == task_id


async def test_retrying_shows_the_count_and_next_time_and_failing_allows_a_new_start(gw: Gateway) -> None:
    async with gw.client() as c:
        project = await new_project(c)
        task_id = (await start(c, project["id"]))["scriptTaskId"]
        await dispatch(gw, task_id)
        task = await gw.store.get(task_id)
        assert task is not None
        next_at = gw.clock.now() + timedelta(minutes=1)
        error = TaskError(code="script_backend_busy", message="The script service is busy (HTTP 429)", retryable=True)
        task = await gw.store.transition(
            task_id,
            transitions.SCHEDULE_RETRY,
            expected_version=task.version,
            changes={"retry_count": 1, "next_retry_at": next_at, "error": error, "error_message": error.message},
        )
        waiting = await status_of(c, project["id"])
        assert waiting["status"] == "generating_script" and waiting["retryCount"] == 1
        assert waiting["nextRetryAt"] and waiting["error"]["code"] == "script_backend_busy"
        assert (await c.post(f"{BASE}/projects/{project['id']}/script")).status_code == 409
        task = await gw.store.transition(task_id, transitions.REQUEUE, expected_version=task.version)
        await dispatch(gw, task_id)
        task = await gw.store.get(task_id)
        assert task is not None
        failure = {
            "code": "script_unreadable",
            "message": "The answer could not be read as a script",
            "retryable": False,
        }
        await gw.store.transition(
            task_id,
            transitions.FAIL,
            expected_version=task.version,
            changes={"error": failure, "error_message": failure["message"], "completed_at": gw.clock.now()},
        )
        failed = await status_of(c, project["id"])
        assert failed["status"] == "failed" and failed["progressMessage"] == failure["message"]
        assert failed["error"]["code"] == "script_unreadable"
        again = await start(c, project["id"])
        assert again["status"] == "generating_script" and again["scriptTaskId"] != task_id


async def test_a_cancelled_run_returns_to_draft_with_the_previous_script(gw: Gateway) -> None:
    async with gw.client() as c:
        project = await new_project(c)
        first = (await start(c, project["id"]))["scriptTaskId"]
        await complete(gw, first, 30)
        kept = (await status_of(c, project["id"]))["scriptData"]
        second = (await start(c, project["id"]))["scriptTaskId"]
        r = await c.post(f"/api/tasks/{second}/cancel")
        assert r.status_code == 202, r.text
        task = await gw.store.get(second)
        assert task is not None
        if task.status is TaskStatus.QUEUED:  # play the scheduler: a waiting task is cancelled at once
            await gw.store.transition(second, transitions.CANCEL_WAITING, expected_version=task.version)
        back = await status_of(c, project["id"])
        assert back["status"] == "draft" and back["scriptData"] == kept and back["taskStatus"] == "cancelled"


async def test_unfinished_lists_running_and_unannounced_projects_until_marked_notified(gw: Gateway) -> None:
    async with gw.client() as c:
        idle = await new_project(c, title="idle")
        running = await new_project(c, title="running")
        finished = await new_project(c, title="finished")
        await start(c, running["id"])
        done_task = (await start(c, finished["id"]))["scriptTaskId"]
        await complete(gw, done_task, 30)

        listed = data(await c.get(f"{BASE}/unfinished"))["projects"]
        assert {p["id"]: p["status"] for p in listed} == {running["id"]: "generating_script", finished["id"]: "draft"}
        assert idle["id"] not in {p["id"] for p in listed}

        r = await c.post(f"{BASE}/projects/{finished['id']}/notified")
        assert r.status_code == 200 and data(r)["notified"] is True
        assert [p["id"] for p in data(await c.get(f"{BASE}/unfinished"))["projects"]] == [running["id"]]
        task = await gw.store.get(done_task)
        assert task is not None and task.notified  # the task list will not announce it again either
        assert (await status_of(c, finished["id"]))["notified"] is True


async def test_every_route_is_described_in_openapi(gw: Gateway) -> None:
    async with gw.client() as c:
        spec = (await c.get("/openapi.json")).json()
    expected = {
        f"{BASE}/projects": {"get", "post"},
        f"{BASE}/projects/{{projectId}}": {"get"},
        f"{BASE}/projects/{{projectId}}/script": {"post"},
        f"{BASE}/projects/{{projectId}}/status": {"get"},
        f"{BASE}/projects/{{projectId}}/notified": {"post"},
        f"{BASE}/unfinished": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"].get(path, {})), path
    body = spec["components"]["schemas"]["CreateProjectBody"]
    assert set(body["required"]) == {"title", "topic"} and "targetSeconds" in body["properties"]


async def test_the_live_stream_carries_project_changes_and_replays_them_on_resume(gw: Gateway) -> None:
    async with gw.client() as c, gw.client() as other:
        me = await user_id_of(c)
        async with c.stream("GET", "/api/events") as stream:
            events = SseReader(stream)
            assert (await events.next())["event"] == "ready"
            await new_project(other)  # must not reach me
            project = await new_project(c)
            created = await events.until(lambda e: e["event"] == "project")
            assert created["data"]["id"] == project["id"] and created["data"]["status"] == "draft"
            task_id = (await start(c, project["id"]))["scriptTaskId"]
            started = await events.until(lambda e: e["event"] == "project" and e["data"]["taskStatus"] == "queued")
            assert started["data"]["status"] == "generating_script"
            # the scheduler's own announcement of the script task's end becomes a project event too
            await complete(gw, task_id, 30)
            task = await gw.store.get(task_id)
            assert task is not None
            await gw.bus.publish(
                EVENTS, TaskStatusChanged.TYPE, Envelope.wrap(TaskStatusChanged.of(task, TaskStatus.PROCESSING))
            )
            done = await events.until(lambda e: e["event"] == "project" and e["data"]["status"] == "draft"
                                      and e["data"]["scriptData"] is not None)  # fmt: skip
            assert done["data"]["id"] == project["id"] and done["data"]["progress"] == 100
            last_id = done["id"]
        await wait_for_no_subscribers(gw, me)

        r = await c.post(f"{BASE}/projects/{project['id']}/notified")  # while away
        assert r.status_code == 200
        async with c.stream("GET", "/api/events", headers={"Last-Event-ID": last_id}) as stream:
            events = SseReader(stream)
            replayed = await events.until(lambda e: e["event"] in ("project", "ready"))
            assert replayed["event"] == "project" and replayed["data"]["id"] == project["id"]
            assert replayed["data"]["notified"] is True and replayed["data"]["scriptData"] is not None


async def test_a_script_whose_task_expired_before_anyone_looked_is_still_kept(gw: Gateway) -> None:
    async with gw.client() as c:
        project = await new_project(c)
        task_id = (await start(c, project["id"]))["scriptTaskId"]
        script = await complete(gw, task_id, 30)
        task = await gw.store.get(task_id)
        assert task is not None
        await gw.store.transition(task_id, transitions.EXPIRE_FILES, expected_version=task.version)
        view = await status_of(c, project["id"])
        assert view["status"] == "draft" and view["taskStatus"] == "expired"
        assert [s["narration"] for s in view["scriptData"]["scenes"]] == [s.narration for s in script.scenes]


async def test_the_status_speaks_the_callers_language(gw: Gateway) -> None:
    async with gw.client() as c:
        project = await new_project(c)
        task_id = (await start(c, project["id"]))["scriptTaskId"]
        zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
        waiting = data(await c.get(f"{BASE}/projects/{project['id']}/status", headers=zh))
        in_english = data(await c.get(f"{BASE}/projects/{project['id']}/status"))
        # the scheduler's own words for a queued task, from the one table in the caller's language
        assert in_english["progressMessage"] and waiting["progressMessage"] != in_english["progressMessage"]
        assert all("\u4e00" <= ch <= "\u9fff" for ch in waiting["progressMessage"])
        await dispatch(gw, task_id)
        await gw.store.update_progress(task_id, attempt=1, progress=40, message="writing scene 2 of 3")
        running = data(await c.get(f"{BASE}/projects/{project['id']}/status", headers=zh))
        assert running["progressMessage"] == "正在写第 2 个场景（共 3 个）"
        assert running["sceneProgress"] == {"current": 2, "total": 3}
        english = data(await c.get(f"{BASE}/projects/{project['id']}/status?lang=en", headers=zh))
        assert english["progressMessage"] == "writing scene 2 of 3"  # ?lang= (the page's choice) wins
        await complete(gw, task_id, 30)
        listed = data(await c.get(f"{BASE}/projects", headers=zh))["projects"]
        assert [p["progressMessage"] for p in listed if p["id"] == project["id"]] == ["脚本已完成"]
