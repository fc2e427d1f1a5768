"""A task's sentences in the reader's language: the API reads each stored English sentence back
to its code and answers the error table's sentence."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from mediacraft.gateway.events import status_event
from mediacraft.gateway.views import task_view
from mediacraft.scheduler.retry_policy import exhausted_message
from mediacraft.shared.error_texts import sentence, text
from mediacraft.shared.http.asgi import ANSWER_LANG
from mediacraft.shared.tasks import Task, TaskDetection, TaskError, TaskStatus, TaskType

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LATIN_WORDS = re.compile(r"[A-Za-z]{3,}")


def _task(**fields: Any) -> Task:
    return Task(task_id="t-1", user_id="u-1", task_type=TaskType.IMAGE_GENERATION, created_at=NOW, **fields)


def _gave_up() -> Task:
    english = exhausted_message(text("generation_backend_unavailable"), 2)
    return _task(
        status=TaskStatus.FAILED,
        retry_count=2,
        error=TaskError(code="generation_backend_unavailable", message=english, retryable=True),
        error_message=english,
        message=english,
    )


def test_a_failure_after_retries_reads_in_chinese_with_the_count() -> None:
    view = task_view(_gave_up(), "zh")
    assert view["error_message"] == view["error"]["message"] == view["message"]
    assert sentence("generation_backend_unavailable", "zh").rstrip("。") in view["error_message"]  # type: ignore[union-attr]
    assert "已重试 2 次" in view["error_message"]
    assert not LATIN_WORDS.search(view["error_message"])


def test_english_keeps_the_stored_sentences() -> None:
    view = task_view(_gave_up(), "en")
    assert view["error_message"] == "The generation service could not be reached. Gave up after 2 retries."


def test_a_fault_of_the_input_reads_its_codes_sentence() -> None:
    english = "The file is not a supported video (MP4, MOV, MKV, WebM) or image (JPEG, PNG, WebP)"
    failed = _task(
        status=TaskStatus.FAILED,
        error=TaskError(code="unsupported_format", message=english),
        error_message=english,
        message=english,
    )
    view = task_view(failed, "zh")
    assert view["error_message"] == view["message"] == sentence("unsupported_format", "zh")


def test_a_scheduled_retry_and_the_queue_reasons_read_in_chinese() -> None:
    reason = text("generation_backend_timeout")
    retrying = _task(
        status=TaskStatus.RETRYING,
        retry_count=1,
        error=TaskError(code="generation_backend_timeout", message=reason, retryable=True),
        error_message=reason,
        message=text("retry_scheduled", n=1, max=3, reason=reason),
    )
    view = task_view(retrying, "zh")
    assert view["message"] == text(
        "retry_scheduled", "zh", n=1, max=3, reason=sentence("generation_backend_timeout", "zh")
    )
    for code in ("user_busy", "system_busy", "queued", "cancelling", "cancelled"):
        waiting = task_view(_task(status=TaskStatus.QUEUED, message=text(code)), "zh")
        assert waiting["message"] == sentence(code, "zh")


def test_a_detection_message_reads_in_chinese() -> None:
    draft = _task(
        status=TaskStatus.UPLOADED,
        detection=TaskDetection(state="failed", message=text("detection_timed_out"), request_id="r-1"),
    )
    assert task_view(draft, "zh")["detection"]["message"] == sentence("detection_timed_out", "zh")


def test_an_unknown_sentence_without_a_code_is_left_as_written() -> None:
    assert task_view(_task(status=TaskStatus.QUEUED, message="Something new"), "zh")["message"] == "Something new"


def test_the_request_language_is_the_default() -> None:
    token = ANSWER_LANG.set("zh")
    try:
        assert task_view(_task(status=TaskStatus.QUEUED, message=text("queued")))["message"] == "正在排队"
    finally:
        ANSWER_LANG.reset(token)


def test_a_live_event_is_shared_in_english_and_sent_in_each_streams_language() -> None:
    event = status_event(_gave_up(), 1)
    assert "Gave up" in event.data["task"]["error_message"]
    token = ANSWER_LANG.set("zh")
    try:
        frame = event.encode(1).decode()
    finally:
        ANSWER_LANG.reset(token)
    payload = json.loads(frame.split("data: ", 1)[1])
    assert "已重试 2 次" in payload["task"]["error_message"]
    assert "Gave up" in json.loads(event.encode(1).decode().split("data: ", 1)[1])["task"]["error_message"]
