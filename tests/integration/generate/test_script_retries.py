"""Script tasks on the task's retry schedule: the real scheduler and a generate worker whose
chat-completions backend is a fake on 127.0.0.1 (the schedule shortened to 0.3 / 0.6 / 0.9 s)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from mediacraft.shared import transitions
from mediacraft.shared.clock import utcnow
from mediacraft.shared.messages import Envelope, SubmitTask
from mediacraft.shared.scripts import validate_script_config
from mediacraft.shared.tasks import Task, TaskStatus, TaskType
from mediacraft.shared.topology import COMMANDS, SCHEDULER_KEY
from mediacraft.worker_generate.providers.local import LocalProvider
from mediacraft.worker_generate.scripts.http import ChatScriptProvider
from mediacraft.worker_generate.scripts.processor import ScriptProcessor
from tests.integration.generate.backend import Reply, in_order
from tests.integration.generate.conftest import BackendFactory
from tests.integration.generate.test_generate_retries import DELAYS_S, Flow

GOOD = json.dumps({"scenes": [{"narration": "Hello", "shot": "A field", "duration_seconds": 20}] * 3})


def chat(content: str) -> Reply:
    doc = {"choices": [{"message": {"role": "assistant", "content": content}}]}
    return Reply(200, json.dumps(doc).encode(), "application/json")


class ScriptFlow(Flow):
    def __init__(self, tmp: Path, provider: ChatScriptProvider) -> None:
        super().__init__(tmp, LocalProvider())
        self.scripts = provider
        self.worker.processor = ScriptProcessor(provider)

    async def __aenter__(self) -> ScriptFlow:
        await super().__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        self.scripts.close()

    async def submit_script(self) -> str:
        task_id = uuid.uuid4().hex
        draft = await self.store.insert(
            Task(task_id=task_id, user_id="alice", task_type=TaskType.VIDEO_SCRIPT, created_at=utcnow())
        )
        config = validate_script_config({"project_id": "p1", "title": "Tea", "topic": "Tea.", "run_id": "r1"})
        await self.store.transition(
            task_id,
            transitions.SUBMIT,
            expected_version=draft.version,
            changes={"config": config, "submitted_at": utcnow()},
        )
        submit = SubmitTask(task_id=task_id, user_id="alice", task_type=TaskType.VIDEO_SCRIPT)
        await self.gateway_bus.publish(COMMANDS, SCHEDULER_KEY, Envelope.wrap(submit, correlation_id=task_id))
        return task_id


async def test_429_then_5xx_then_timeout_are_retried_on_the_schedule_until_a_good_answer(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    backend = backend_factory(
        in_order(
            # Retry-After 1 s: longer than every step, so the first retry waits the longest (0.9 s)
            Reply(429, b'{"error": {"message": "rate limited"}}', "application/json", {"Retry-After": "1"}),
            Reply(503, b"down", "text/plain"),
            Reply(200, b"{}", "application/json", stall=30),
            chat(GOOD),
        )
    )
    retries: dict[int, Task] = {}
    messages: list[str] = []

    async def watch(task: Task) -> None:
        if task.status == TaskStatus.RETRYING:
            retries.setdefault(task.retry_count, task)
        if task.status == TaskStatus.PROCESSING and task.message and task.message not in messages:
            messages.append(task.message)

    async with ScriptFlow(tmp_path, ChatScriptProvider(backend.url, model="m", timeout=0.5)) as flow:
        task_id = await flow.submit_script()
        done = await flow.follow(task_id, on_each=watch)
    assert done.status == TaskStatus.COMPLETED, done.error_message
    assert (done.attempts, done.retry_count) == (4, 3)
    codes = {n: t.error.code for n, t in retries.items() if t.error is not None}
    assert codes == {1: "script_backend_busy", 2: "script_backend_error", 3: "script_backend_timeout"}
    expected = {1: DELAYS_S[-1], 2: DELAYS_S[1], 3: DELAYS_S[2]}  # the busy service's own wait first
    for number, waiting in retries.items():
        assert waiting.next_retry_at is not None and waiting.updated_at is not None
        planned = (waiting.next_retry_at - waiting.updated_at).total_seconds()
        assert abs(planned - expected[number]) < 0.2, (number, planned)
    assert done.result is not None and len(done.result.info["script"]["scenes"]) == 3
    # the worker's plain words reach the task while it runs (progress writes are throttled)
    assert messages and all(
        m in ("preparing", "waiting for the language model", "script ready") or m.startswith("writing scene")
        for m in messages
    ), messages


async def test_two_malformed_answers_fail_the_task_at_once_with_a_plain_message(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    backend = backend_factory(in_order(chat("no script here")))
    async with ScriptFlow(tmp_path, ChatScriptProvider(backend.url, model="m", timeout=2)) as flow:
        task_id = await flow.submit_script()
        failed = await flow.follow(task_id)
    assert failed.status == TaskStatus.FAILED and (failed.attempts, failed.retry_count) == (1, 0)
    assert failed.error is not None and failed.error.code == "script_unreadable" and not failed.error.retryable
    assert "could not be read as a script" in (failed.error_message or "")
    assert len(backend.received) == 2
