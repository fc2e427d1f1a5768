"""The operator console's API (/ops/api) on the embedded gateway: every endpoint with its answer and
its refusals (no credential, a wrong one, another site's page, the console switched off), bad input
answered in the envelope with nothing changed. The scheduler is the recording stand-in of the
harness: what the console asks of it is read from the inbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.shared.messages import (
    ApplyQuotas,
    CancelTask,
    Envelope,
    JobFailed,
    PrioritiseTask,
    RetryTask,
    RunJob,
)
from mediacraft.shared.operator_records import POOLS_RECORD, QUOTAS_RECORD, PoolFigures, PoolsSnapshot
from mediacraft.shared.tasks import POOL_OF_TYPE, ControlKind, Task, TaskError, TaskStatus, TaskType
from mediacraft.shared.topology import DEAD_LETTERS, REASON_HEADER
from tests.fixtures.waiting import eventually
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import Gateway

TOKEN = "operator-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/ops/api/session"),
    ("GET", "/ops/api/pools"),
    ("GET", "/ops/api/tasks"),
    ("GET", f"/ops/api/tasks/{uuid.uuid4()}"),
    ("POST", f"/ops/api/tasks/{uuid.uuid4()}/cancel"),
    ("POST", f"/ops/api/tasks/{uuid.uuid4()}/retry"),
    ("POST", f"/ops/api/tasks/{uuid.uuid4()}/prioritise"),
    ("GET", "/ops/api/dead-letters"),
    ("POST", "/ops/api/dead-letters/replay"),
    ("GET", "/ops/api/quotas"),
    ("PUT", "/ops/api/quotas"),
]


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with embedded_gateway(tmp_path, operator_token=TOKEN) as gw:
        yield gw


def envelope(response: httpx.Response, status: int, error_code: str | None = None) -> dict[str, Any]:
    """The envelope of `response`, checked for its status and (on failure) its error code."""
    body: dict[str, Any] = response.json()
    assert response.status_code == status, body
    assert body["code"] == status and body["success"] is (status < 400), body
    if error_code is not None:
        assert body["error_code"] == error_code, body
    return body


async def add(gw: Gateway, user_id: str = "alice", *, minutes: int = 0, **fields: Any) -> Task:
    fields.setdefault("task_type", TaskType.IMAGE_GENERATION)
    fields.setdefault("submitted_at", T0 + timedelta(minutes=minutes))
    task = Task(task_id=str(uuid.uuid4()), user_id=user_id, created_at=T0 + timedelta(minutes=minutes), **fields)
    return await gw.store.insert(task)


async def test_everything_under_ops_is_not_found_while_the_console_is_off(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path) as gw, gw.client() as client:
        for method, path in [("GET", "/ops/"), ("GET", "/ops/static/console.js"), *ENDPOINTS]:
            response = await client.request(method, path, headers=BEARER, json={})
            envelope(response, 404, "not_found")


async def test_every_endpoint_refuses_a_caller_without_the_operator_credential(console: Gateway) -> None:
    async with console.client() as client:
        for method, path in ENDPOINTS:
            envelope(await client.request(method, path, json={}), 401, "unauthorized")
            wrong = {"Authorization": "Bearer not-the-operator-token-at-all"}
            envelope(await client.request(method, path, json={}, headers=wrong), 401, "unauthorized")
            # a proxy's header is not trusted unless configured
            envelope(await client.request(method, path, headers={"X-Forwarded-User": "mallory"}), 401)
            # a visitor's cookie is no operator credential
            await client.get("/api/user/info")
            assert client.cookies.get("mc_uid")
            envelope(await client.request(method, path), 401, "unauthorized")
    assert console.inbox.messages == []
    assert await console.store.get_record(QUOTAS_RECORD) is None


async def test_the_page_is_served_to_anyone_but_shows_nothing_without_sign_in(console: Gateway) -> None:
    async with console.client() as client:
        page = await client.get("/ops/")
        assert page.status_code == 200
        assert "Operator token" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert (await client.get("/ops/static/console.js")).status_code == 200
        assert (await client.get("/ops/static/nothing.js")).status_code == 404


async def test_sign_in_gives_a_session_cookie_for_the_console_only(console: Gateway) -> None:
    async with console.client() as client:
        envelope(await client.post("/ops/api/session", json={"token": "wrong"}), 401, "unauthorized")
        envelope(await client.post("/ops/api/session", json={"token": 12}), 401, "unauthorized")
        envelope(await client.post("/ops/api/session", content=b"{not json"), 422, "invalid_input")
        assert "mc_ops" not in client.cookies

        signed = await client.post("/ops/api/session", json={"token": TOKEN})
        envelope(signed, 200)
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ops" in cookie
        assert TOKEN not in cookie
        who = envelope(await client.get("/ops/api/session"), 200)["data"]
        assert who == {"operator": "token", "via": "session"}

        # another site's page cannot act with the operator's cookie
        foreign = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
        refused = await client.put("/ops/api/quotas", json={"per_user": 3}, headers=foreign)
        envelope(refused, 403, "forbidden_origin")
        assert await console.store.get_record(QUOTAS_RECORD) is None

        envelope(await client.delete("/ops/api/session"), 200)
        envelope(await client.get("/ops/api/session"), 401, "unauthorized")

    # a forged or expired cookie is refused
    async with console.client(cookies={"mc_ops": "9999999999.deadbeef"}) as client:
        envelope(await client.get("/ops/api/session"), 401, "unauthorized")
    async with console.client(cookies={"mc_ops": "1000.0"}) as client:
        envelope(await client.get("/ops/api/session"), 401, "unauthorized")


async def test_a_trusted_proxy_header_names_the_operator_when_configured(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, operator_user_header="X-Forwarded-User") as gw, gw.client() as client:
        who = envelope(await client.get("/ops/api/session", headers={"X-Forwarded-User": "ada"}), 200)["data"]
        assert who == {"operator": "ada", "via": "header"}
        envelope(await client.get("/ops/api/session"), 401, "unauthorized")
        envelope(await client.get("/ops/api/session", headers={"X-Forwarded-User": ""}), 401)
        # the proxy signs browsers in: another site's page cannot act through one
        foreign = {"X-Forwarded-User": "ada", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
        envelope(await client.put("/ops/api/quotas", json={"per_user": 3}, headers=foreign), 403, "forbidden_origin")
        assert await gw.store.get_record(QUOTAS_RECORD) is None
        mine = {"X-Forwarded-User": "ada"}
        assert envelope(await client.put("/ops/api/quotas", json={"per_user": 3}, headers=mine), 202)["data"]["sent"]
        stored = await gw.store.get_record(QUOTAS_RECORD)
        assert stored is not None and stored["updated_by"] == "ada"
        # no token configured: token sign-in is off, and a bearer is refused
        envelope(await client.post("/ops/api/session", json={"token": TOKEN}), 401, "unauthorized")
        envelope(await client.get("/ops/api/session", headers=BEARER), 401, "unauthorized")


async def test_tasks_are_found_by_id_user_status_type_and_error_code(console: Gateway) -> None:
    lost = await add(console, "alice", status=TaskStatus.FAILED, error=TaskError(code="worker_lost", message="m"))
    bad = await add(
        console, "bob", minutes=1, status=TaskStatus.FAILED, hidden=True,
        error=TaskError(code="invalid_media", message="m"),
    )  # fmt: skip
    merge = await add(console, "bob", minutes=2, task_type=TaskType.VIDEO_MERGE, status=TaskStatus.QUEUED)

    async with console.client(headers=BEARER) as client:

        async def found(**params: str) -> list[str]:
            data = envelope(await client.get("/ops/api/tasks", params=params), 200)["data"]
            return [t["task_id"] for t in data["items"]]

        assert await found() == [merge.task_id, bad.task_id, lost.task_id]
        assert await found(error_code="worker_lost") == [lost.task_id]
        assert await found(user_id="bob") == [merge.task_id, bad.task_id]
        assert await found(status="failed") == [bad.task_id, lost.task_id]
        assert await found(status="queued,failed", user_id="bob") == [merge.task_id, bad.task_id]
        assert await found(task_type="video_merge") == [merge.task_id]
        assert await found(task_id=bad.task_id) == [bad.task_id]
        first = envelope(await client.get("/ops/api/tasks", params={"limit": "2"}), 200)["data"]
        rest = envelope(await client.get("/ops/api/tasks", params={"limit": "2", "cursor": first["next_cursor"]}), 200)[
            "data"
        ]
        assert [t["task_id"] for t in first["items"] + rest["items"]] == [merge.task_id, bad.task_id, lost.task_id]
        assert first["items"][1]["error_code"] == "invalid_media"

        envelope(await client.get("/ops/api/tasks", params={"status": "lost"}), 422, "invalid_input")
        envelope(await client.get("/ops/api/tasks", params={"task_type": "juggling"}), 422, "unknown_task_type")
        envelope(await client.get("/ops/api/tasks", params={"limit": "0"}), 422, "invalid_input")
        envelope(await client.get("/ops/api/tasks", params={"limit": "many"}), 422, "invalid_input")
        envelope(await client.get("/ops/api/tasks", params={"cursor": "forged"}), 422)
        envelope(await client.get("/ops/api/tasks", params={"error_code": "x" * 201}), 422, "invalid_input")


async def test_a_task_shows_its_full_history(console: Gateway) -> None:
    failed = await add(
        console, status=TaskStatus.FAILED, attempts=4, retry_count=3, max_retries=3, lost_redispatches=1,
        started_at=T0 + timedelta(seconds=30), completed_at=T0 + timedelta(seconds=90),
        error=TaskError(code="generation_unavailable", message="The generation service is down", retryable=True),
        metadata={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
    )  # fmt: skip
    async with console.client(headers=BEARER) as client:
        data = envelope(await client.get(f"/ops/api/tasks/{failed.task_id}"), 200)["data"]
        history = data["history"]
        assert (history["attempts"], history["retry_count"], history["max_retries"]) == (4, 3, 3)
        assert history["lost_redispatches"] == 1
        assert (history["waited_seconds"], history["ran_seconds"], history["total_seconds"]) == (30.0, 60.0, 90.0)
        assert history["error"] == {
            "code": "generation_unavailable", "message": "The generation service is down", "retryable": True,
        }  # fmt: skip
        assert history["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert history["worker"] is None
        assert data["can"] == {"cancel": False, "retry": True, "prioritise": False}
        assert data["document"]["user_id"] == "alice"

        assert data["attempts"] == [] and data["events"] == []

        envelope(await client.get(f"/ops/api/tasks/{uuid.uuid4()}"), 404, "not_found")
        envelope(await client.get("/ops/api/tasks/not-a-uuid"), 422, "invalid_task_id")


async def test_a_task_shows_each_attempt_from_the_schedulers_history(console: Gateway) -> None:
    task = await add(console, status=TaskStatus.COMPLETED, attempts=2)
    lost = {"code": "worker_lost", "message": "The worker stopped answering", "retryable": True}

    def at(seconds: int) -> str:
        return (T0 + timedelta(seconds=seconds)).isoformat()

    steps: list[dict[str, Any]] = [
        {"event": "dispatched", "attempt": 1, "at": at(0)},
        {"event": "started", "attempt": 1, "at": at(1), "worker": "host-a"},
        {"event": "requeued_after_lost_worker", "attempt": 1, "at": at(61), "error": lost},
        {"event": "dispatched", "attempt": 2, "at": at(62)},
        {"event": "started", "attempt": 2, "at": at(63), "worker": "host-b"},
        {"event": "completed", "attempt": 2, "at": at(73)},
    ]
    await console.store.append_history([{"task_id": task.task_id, **step} for step in steps])

    async with console.client(headers=BEARER) as client:
        data = envelope(await client.get(f"/ops/api/tasks/{task.task_id}"), 200)["data"]

    first, second = data["attempts"]
    assert (first["worker"], first["outcome"], first["seconds"], first["error"]) == (
        "host-a", "worker lost, queued again", 60.0, lost,
    )  # fmt: skip
    assert (second["worker"], second["outcome"], second["seconds"], second["error"]) == (
        "host-b", "completed", 10.0, None,
    )  # fmt: skip
    assert [e["event"] for e in data["events"]] == [s["event"] for s in steps]


async def test_a_running_task_shows_the_worker_the_scheduler_heard(console: Gateway) -> None:
    running = await add(console, status=TaskStatus.PROCESSING, attempts=1, started_at=T0)
    snapshot = PoolsSnapshot(written_at=T0, pools=[], workers_by_task={running.task_id: "host-1-generate"})
    await console.store.put_record(POOLS_RECORD, snapshot.model_dump(mode="json"))
    async with console.client(headers=BEARER) as client:
        data = envelope(await client.get(f"/ops/api/tasks/{running.task_id}"), 200)["data"]
    assert data["history"]["worker"] == "host-1-generate"
    assert data["history"]["ran_seconds"] > 0


async def test_cancel_and_retry_take_the_owners_durable_path(console: Gateway) -> None:
    queued = await add(console, "alice", status=TaskStatus.QUEUED)
    failed = await add(console, "bob", status=TaskStatus.FAILED, error=TaskError(code="x", message="m"))
    done = await add(console, "carol", status=TaskStatus.COMPLETED)
    async with console.client(headers=BEARER) as client:
        data = envelope(await client.post(f"/ops/api/tasks/{queued.task_id}/cancel"), 202)["data"]
        assert data["notice"] is None
        data = envelope(await client.post(f"/ops/api/tasks/{failed.task_id}/retry"), 202)["data"]
        assert data["notice"] is None

        envelope(await client.post(f"/ops/api/tasks/{done.task_id}/cancel"), 409, "not_cancellable")
        envelope(await client.post(f"/ops/api/tasks/{done.task_id}/retry"), 409, "not_retryable")
        envelope(await client.post(f"/ops/api/tasks/{uuid.uuid4()}/cancel"), 404, "not_found")

    # recorded on the task before it is published, as the owner's own request is
    stored_cancel, stored_retry = await console.store.get(queued.task_id), await console.store.get(failed.task_id)
    assert stored_cancel is not None and stored_cancel.control is not None
    assert stored_cancel.control.kind is ControlKind.CANCEL
    assert stored_retry is not None and stored_retry.control is not None
    assert stored_retry.control.kind is ControlKind.RETRY
    await eventually(lambda: len(console.inbox.messages) == 2, what="both commands to reach the scheduler")
    sent = [m.open() for m in console.inbox.messages]
    assert CancelTask(task_id=queued.task_id, user_id="alice") in sent
    assert RetryTask(task_id=failed.task_id, user_id="bob") in sent
    unchanged = await console.store.get(done.task_id)
    assert unchanged is not None and unchanged.control is None


async def test_a_waiting_task_is_moved_to_the_front_by_a_command_to_the_scheduler(console: Gateway) -> None:
    queued = await add(console, status=TaskStatus.QUEUED)
    running = await add(console, status=TaskStatus.PROCESSING, attempts=1)
    async with console.client(headers=BEARER) as client:
        envelope(await client.post(f"/ops/api/tasks/{queued.task_id}/prioritise"), 202)
        envelope(await client.post(f"/ops/api/tasks/{running.task_id}/prioritise"), 409, "invalid_state")
        envelope(await client.post(f"/ops/api/tasks/{uuid.uuid4()}/prioritise"), 404, "not_found")
    await eventually(lambda: len(console.inbox.messages) == 1, what="the command to reach the scheduler")
    assert [m.open() for m in console.inbox.messages] == [PrioritiseTask(task_id=queued.task_id)]


async def test_pools_show_the_schedulers_last_figures_and_their_age(console: Gateway) -> None:
    async with console.client(headers=BEARER) as client:
        data = envelope(await client.get("/ops/api/pools"), 200)["data"]
        assert data["as_of"] is None and data["stale"] is True
        assert [p["pool"] for p in data["pools"]] == ["watermark", "merge", "generate"]
        # what the broker holds: nothing waits, the harness's scheduler stand-in consumes its inbox
        assert data["pools"][1]["queue"] == {"ready": 0, "consumers": 0}
        assert data["queues"]["scheduler.inbox"]["consumers"] == 1
        await console.bus.publish_raw("", DEAD_LETTERS, b"parked", headers={REASON_HEADER: "test"})
        data = envelope(await client.get("/ops/api/pools"), 200)["data"]
        assert data["queues"]["dead.letters"] == {"ready": 1, "consumers": 0}

        merge = PoolFigures(
            pool="merge", waiting=3, waiting_by_reason={"user_busy": 2, "queued": 1}, running=2, workers_alive=2,
            workers=["a", "b"],
        )  # fmt: skip
        written = console.clock.now() - timedelta(seconds=3)
        snapshot = PoolsSnapshot(written_at=written, pools=[merge], quotas={"per_user": 1}, running_total=2)
        await console.store.put_record(POOLS_RECORD, snapshot.model_dump(mode="json"))
        data = envelope(await client.get("/ops/api/pools"), 200)["data"]
        [shown] = data["pools"]
        assert (shown["waiting"], shown["running"], shown["workers_alive"]) == (3, 2, 2)
        assert shown["waiting_by_reason"] == {"user_busy": 2, "queued": 1}
        assert shown["task_types"] == [t.value for t, pool in POOL_OF_TYPE.items() if pool == "merge"]
        assert "video_merge" in shown["task_types"]
        assert data["stale"] is False and 3 <= data["age_seconds"] < 15
        assert data["quotas_in_effect"] == {"per_user": 1}

        console.clock.shift(60)
        assert envelope(await client.get("/ops/api/pools"), 200)["data"]["stale"] is True


async def test_quotas_are_stored_then_sent_to_the_scheduler(console: Gateway) -> None:
    async with console.client(headers=BEARER) as client:
        data = envelope(await client.get("/ops/api/quotas"), 200)["data"]
        assert data["overrides"]["per_user"] is None and data["overrides"]["per_pool"] == {}
        assert data["in_effect"] is None

        body = {"per_user": 2, "total": None, "per_pool": {"merge": 0}}
        data = envelope(await client.put("/ops/api/quotas", json=body), 202)["data"]
        assert data["sent"] is True and data["notice"] is None
        stored = await console.store.get_record(QUOTAS_RECORD)
        assert stored is not None
        assert (stored["per_user"], stored["total"], stored["per_pool"]) == (2, None, {"merge": 0})
        assert stored["updated_by"] == "token"
        await eventually(lambda: len(console.inbox.messages) == 1, what="ApplyQuotas to reach the scheduler")
        assert [m.open() for m in console.inbox.messages] == [ApplyQuotas()]

        data = envelope(await client.get("/ops/api/quotas"), 200)["data"]
        assert data["overrides"]["per_pool"] == {"merge": 0}

        for bad in (
            {"per_user": -1},
            {"total": "lots"},
            {"per_pool": {"juggling": 1}},
            {"per_pool": {"merge": -2}},
            {"per_hour": 3},
        ):
            envelope(await client.put("/ops/api/quotas", json=bad), 422, "invalid_input")
        envelope(await client.put("/ops/api/quotas", content=b"[1, 2]"), 422, "invalid_input")
    assert await console.store.get_record(QUOTAS_RECORD) == stored  # nothing half-written
    assert len(console.inbox.messages) == 1


async def test_dead_letters_are_listed_with_their_reason_and_replayed(console: Gateway) -> None:
    failed = await add(
        console, "alice", status=TaskStatus.FAILED, attempts=1,
        error=TaskError(code="job_dead_lettered", message="set aside"),
    )  # fmt: skip
    job = RunJob(
        task_id=failed.task_id, user_id="alice", attempt=1, task_type=TaskType.IMAGE_GENERATION, inputs=[],
        output_key=f"results/alice/{failed.task_id}/1",
    )  # fmt: skip
    parked_job = Envelope.wrap(job, correlation_id=failed.task_id)
    death = {"queue": "jobs.generate", "reason": "delivery_limit", "count": 5, "exchange": "mediacraft.jobs"}
    await console.bus.publish_raw(
        "", DEAD_LETTERS, parked_job.to_bytes(), headers={"x-death": [death], "x-first-death-reason": "delivery_limit"}
    )
    await console.bus.publish_raw("", DEAD_LETTERS, b"not an envelope", headers={REASON_HEADER: "invalid envelope"})

    async with console.client(headers=BEARER) as client:
        data = envelope(await client.get("/ops/api/dead-letters"), 200)["data"]
        assert data["count"] == 2
        first, second = data["items"]
        assert (first["message_id"], first["type"], first["task_id"]) == (
            parked_job.message_id,
            "job.run",
            failed.task_id,
        )
        assert (first["queue"], first["reason"], first["deaths"]) == ("jobs.generate", "delivery_limit", 5)
        assert (second["message_id"], second["reason"]) == (None, "invalid envelope")
        # listing leaves them where they were
        assert envelope(await client.get("/ops/api/dead-letters"), 200)["data"]["count"] == 2

        replayed = envelope(
            await client.post("/ops/api/dead-letters/replay", json={"message_ids": [parked_job.message_id, "gone"]}),
            202,
        )["data"]
        assert replayed == {
            "replayed": [parked_job.message_id], "tasks_retried": [failed.task_id], "unreplayable": [],
            "not_found": ["gone"],
        }  # fmt: skip
        bad_bodies: list[dict[str, Any]] = [{}, {"message_ids": []}, {"message_ids": "all"}, {"message_ids": [3]}]
        for bad in bad_bodies:
            envelope(await client.post("/ops/api/dead-letters/replay", json=bad), 422, "invalid_input")

        left = envelope(await client.get("/ops/api/dead-letters"), 200)["data"]
        assert [m["reason"] for m in left["items"]] == ["invalid envelope"]

    # a parked job is retried as its task: the failure (ignored when recorded), then a retry of the task
    await eventually(lambda: len(console.inbox.messages) == 2, what="the replay to reach the scheduler")
    sent = [m.open() for m in console.inbox.messages]
    assert isinstance(sent[0], JobFailed) and sent[0].task_id == failed.task_id
    assert sent[1] == RetryTask(task_id=failed.task_id, user_id="alice")
