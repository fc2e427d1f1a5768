"""The script providers: the offline writer, and the chat-completions one against a fake on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.scripts import ScriptParams
from mediacraft.shared.tasks import TaskType
from mediacraft.shared.worker.contract import JobCancelledError, JobContext
from mediacraft.worker_generate.pool import build_pool_processor
from mediacraft.worker_generate.scripts.base import ScriptRequest, ScriptUnreadable
from mediacraft.worker_generate.scripts.http import ChatScriptProvider
from mediacraft.worker_generate.scripts.local import LocalScriptProvider
from mediacraft.worker_generate.settings import GenerateSettings
from tests.integration.generate.backend import Reply, in_order
from tests.integration.generate.conftest import BackendFactory

BRIEF = {"project_id": "p1", "title": "Green tea", "topic": "How green tea is picked, dried and rolled."}


def params(**fields: Any) -> ScriptParams:
    return ScriptParams.model_validate({**BRIEF, "run_id": "r1", **fields})


def chat(content: str) -> Reply:
    """A chat-completions answer whose message is `content`."""
    doc = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    return Reply(200, json.dumps(doc).encode(), "application/json")


def scenes(*seconds: float) -> str:
    rows = [{"narration": f"Line {n}", "shot": f"Shot {n}", "duration_seconds": s} for n, s in enumerate(seconds, 1)]
    return json.dumps({"scenes": rows})


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def __call__(self, fraction: float, message: str) -> None:
        self.seen.append((fraction, message))


@pytest.fixture
def providers() -> Iterator[list[ChatScriptProvider]]:
    made: list[ChatScriptProvider] = []
    yield made
    for provider in made:
        provider.close()


@pytest.fixture
def connect(providers: list[ChatScriptProvider]) -> Any:
    def make(url: str, **options: Any) -> ChatScriptProvider:
        provider = ChatScriptProvider(url, **{"model": "tiny-model", "api_key": "secret", "timeout": 3.0, **options})
        providers.append(provider)
        return provider

    return make


def total(script: Any) -> float:
    return round(sum(scene.duration_seconds for scene in script.scenes), 1)


# --- the offline writer ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", [5, 60, 97, 600])
def test_the_local_writer_fills_the_target_length_exactly(target: int) -> None:
    script = LocalScriptProvider(scene_seconds=0).write(ScriptRequest(params=params(target_seconds=target)))
    assert total(script) == target == script.total_seconds
    assert [scene.number for scene in script.scenes] == list(range(1, len(script.scenes) + 1))
    assert all(scene.narration and scene.shot and scene.duration_seconds > 0 for scene in script.scenes)


def test_the_local_writer_says_it_used_no_model_and_reports_each_scene() -> None:
    reports = Reports()
    script = LocalScriptProvider(scene_seconds=0).write(ScriptRequest(params=params(), report=reports))
    assert script.made_without_model and script.provider == "local" and script.model is None
    assert "without a language model" in (script.note or "")
    assert "Green tea" in script.scenes[0].narration
    count = len(script.scenes)
    messages = [message for _, message in reports.seen]
    assert messages == [f"writing scene {n} of {count}" for n in range(1, count + 1)] + ["script ready"]
    fractions = [fraction for fraction, _ in reports.seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_the_local_writer_writes_chinese_for_a_chinese_brief() -> None:
    script = LocalScriptProvider(scene_seconds=0).write(ScriptRequest(params=params(language="zh", title="绿茶")))
    assert script.language == "zh" and "绿茶" in script.scenes[0].narration and "语言模型" in (script.note or "")
    # every word of it Chinese: the default style too (a person's own style word stays as written)
    assert all("informative" not in scene.shot for scene in script.scenes)
    assert "科普" in script.scenes[0].shot
    own = LocalScriptProvider(scene_seconds=0).write(ScriptRequest(params=params(language="zh", style="幽默")))
    assert "幽默" in own.scenes[0].shot


def test_the_local_writer_stops_on_cancel() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(JobCancelledError):
        LocalScriptProvider(scene_seconds=5).write(ScriptRequest(params=params(), cancel_event=cancel))


def test_the_pool_sends_script_jobs_to_the_script_processor(tmp_path: Path) -> None:
    processor = build_pool_processor(GenerateSettings(script_local_scene_seconds=0))
    reports = Reports()
    ctx = JobContext(
        task_id="t1",
        attempt=1,
        workdir=tmp_path,
        inputs=[],
        input_names=[],
        config={**BRIEF, "run_id": "r1", "target_seconds": 30},
        report=reports,
        task_type=TaskType.VIDEO_SCRIPT.value,
    )
    result = processor(ctx)
    processor.close()
    assert result.filename == "script.json" and result.content_type == "application/json"
    stored = json.loads(result.path.read_text(encoding="utf-8"))
    assert stored == result.info["script"] and result.info["project_id"] == "p1"
    assert round(sum(scene["duration_seconds"] for scene in stored["scenes"]), 1) == 30
    assert reports.seen[0] == (0.0, "preparing") and reports.seen[-1] == (1.0, "script ready")


def test_a_bad_brief_fails_at_once_naming_the_field(tmp_path: Path) -> None:
    processor = build_pool_processor(GenerateSettings())
    ctx = JobContext(
        task_id="t1",
        attempt=1,
        workdir=tmp_path,
        inputs=[],
        input_names=[],
        config={**BRIEF, "run_id": "r1", "target_seconds": 2},
        task_type=TaskType.VIDEO_SCRIPT.value,
    )
    with pytest.raises(InvalidInput, match="target_seconds"):
        processor(ctx)
    processor.close()


# --- the chat-completions provider --------------------------------------------------------------


def test_a_good_answer_becomes_a_script_of_the_target_length(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(chat(scenes(10, 20, 25))))  # 55 s asked as 60: rescaled
    reports = Reports()
    script = connect(backend.url).write(ScriptRequest(params=params(), report=reports))
    assert [scene.narration for scene in script.scenes] == ["Line 1", "Line 2", "Line 3"]
    assert total(script) == 60 and script.provider == "http" and script.model == "tiny-model"
    assert not script.made_without_model
    sent = backend.received[0]
    assert sent.headers["authorization"] == "Bearer secret"
    assert sent.body["model"] == "tiny-model" and sent.body["messages"][0]["role"] == "system"
    assert "Green tea" in sent.body["messages"][1]["content"]
    assert [m for _, m in reports.seen][-4:] == [
        "writing scene 1 of 3",
        "writing scene 2 of 3",
        "writing scene 3 of 3",
        "script ready",
    ]


def test_an_answer_in_a_code_fence_is_read(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(chat("```json\n" + scenes(30, 30) + "\n```")))
    script = connect(backend.url).write(ScriptRequest(params=params()))
    assert len(script.scenes) == 2 and total(script) == 60


def test_a_malformed_answer_is_asked_for_once_more(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(chat("Sure! Here is your script: scene one..."), chat(scenes(20, 40))))
    script = connect(backend.url).write(ScriptRequest(params=params()))
    assert len(backend.received) == 2 and len(script.scenes) == 2


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        json.dumps({"scenes": []}),
        json.dumps({"scenes": [{"narration": "a", "shot": "b"}]}),
        json.dumps({"scenes": [{"narration": "a", "shot": "", "duration_seconds": 3}]}),
        json.dumps({"scenes": [{"narration": "a", "shot": "b", "duration_seconds": -3}]}),
        json.dumps([1, 2, 3]),
    ],
)
def test_a_second_malformed_answer_fails_with_a_plain_message(
    backend_factory: BackendFactory, connect: Any, content: str
) -> None:
    backend = backend_factory(in_order(chat(content)))
    with pytest.raises(ScriptUnreadable, match="could not be read as a script") as caught:
        connect(backend.url).write(ScriptRequest(params=params()))
    assert not isinstance(caught.value, RetryableError)  # the task fails at once
    assert len(backend.received) == 2


def test_a_chat_answer_without_choices_is_malformed(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(Reply(200, b'{"object": "chat.completion"}', "application/json")))
    with pytest.raises(ScriptUnreadable):
        connect(backend.url).write(ScriptRequest(params=params()))


def test_429_is_retryable_and_keeps_retry_after(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(
        in_order(Reply(429, b'{"error": {"message": "slow down"}}', "application/json", {"Retry-After": "7"}))
    )
    with pytest.raises(RetryableError) as caught:
        connect(backend.url).write(ScriptRequest(params=params()))
    assert caught.value.code == "script_backend_busy" and caught.value.delay == 7
    assert "slow down" in caught.value.message and len(backend.received) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(backend_factory: BackendFactory, connect: Any, status: int) -> None:
    backend = backend_factory(in_order(Reply(status, b"overloaded", "text/plain")))
    with pytest.raises(RetryableError) as caught:
        connect(backend.url).write(ScriptRequest(params=params()))
    assert caught.value.code == "script_backend_error" and f"HTTP {status}" in caught.value.message


def test_a_timeout_is_retryable_and_does_not_wait_longer(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(Reply(200, b"{}", "application/json", stall=30)))
    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        connect(backend.url, timeout=0.5).write(ScriptRequest(params=params()))
    assert caught.value.code == "script_backend_timeout"
    assert time.monotonic() - started < 5


def test_a_refused_connection_is_retryable(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(chat(scenes(60))), listening=False)
    with pytest.raises(RetryableError) as caught:
        connect(backend.url).write(ScriptRequest(params=params()))
    assert caught.value.code == "script_backend_unavailable"


def test_a_refused_request_fails_at_once(backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(Reply(400, b'{"error": {"message": "content policy"}}', "application/json")))
    with pytest.raises(InvalidInput, match="content policy"):
        connect(backend.url).write(ScriptRequest(params=params()))


def test_the_http_provider_needs_an_endpoint() -> None:
    with pytest.raises(ValueError, match="MEDIACRAFT_SCRIPT_HTTP_ENDPOINT"):
        GenerateSettings(script_provider="http")
