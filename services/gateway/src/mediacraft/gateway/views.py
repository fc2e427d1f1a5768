"""What clients see of a task: the brief's field names, never storage keys or internal leases."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from mediacraft.gateway.disposition import download_name
from mediacraft.shared.error_texts import Lang, code_of_sentence, sentence, text
from mediacraft.shared.http.asgi import ANSWER_LANG
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, TERMINAL_STATUSES, Task, TaskStatus

# Fields of the stored document a client never needs, or must not see (keys, lease, fingerprint);
# of the trace context, only the trace id is shown (`trace_id`: what an operator looks a task up by).
_HIDDEN = frozenset({"lease_expires_at", "fingerprint", "inputs", "result", "metadata", "trace_context"})
_STATUS_GROUPS = {"draft": DRAFT_STATUSES, "active": ACTIVE_STATUSES, "terminal": TERMINAL_STATUSES}


def task_view(task: Task, lang: Lang | None = None) -> dict[str, Any]:
    """The public JSON of one task, its messages in `lang` (by default the request's language)."""
    doc = task.model_dump(mode="json", exclude=set(_HIDDEN))  # datetimes come out as ISO 8601, "Z" for UTC
    doc["inputs"] = [
        {
            "index": i,
            "original_name": item.original_name,
            "size": item.size,
            "media": item.media.model_dump(mode="json", exclude_none=True) if item.media else None,
        }
        for i, item in enumerate(task.inputs)
    ]
    doc["result"] = (
        {
            "size": task.result.size,
            "filename": task.result.filename,
            "download_name": download_name(task),  # what the download is saved as
            "content_type": task.result.content_type,
            "media": task.result.media.model_dump(mode="json", exclude_none=True) if task.result.media else None,
        }
        if task.result
        else None
    )
    doc["finished"] = task.status in TERMINAL_STATUSES
    doc["trace_id"] = task.trace_id
    doc["download_url"] = (
        f"/api/tasks/{task.task_id}/download"
        if task.status is TaskStatus.COMPLETED and task.result is not None
        else None
    )
    return localize_view(doc, lang or ANSWER_LANG.get())


# The shapes of the scheduler's sentences that carry a number (retry_policy, lifecycle)
_GAVE_UP = re.compile(r"Gave up after (\d+) retr(?:y|ies)\.?$")
_RETRY_SCHEDULED = re.compile(r"^Retry (\d+) of (\d+) is scheduled: ")


def localize_view(view: dict[str, Any], lang: Lang) -> dict[str, Any]:
    """A task's public JSON with every sentence a person reads in `lang`. The services store the
    English sentences of the error table (or, for a fault of the input, their own English words
    under a stable code); this reads each back to its code and answers the table's sentence."""
    if lang == "en":
        return view
    out = dict(view)
    error = view.get("error")
    reason = None
    if isinstance(error, dict):
        reason = sentence(str(error.get("code")), lang) or _sentence_of(str(error.get("message") or ""), lang)
        if reason is not None:
            gave_up = _GAVE_UP.search(str(error.get("message") or ""))
            if gave_up:
                reason = f"{reason.rstrip('。.')}。{text('gave_up_after', lang, n=gave_up.group(1))}"
            out["error"] = {**error, "message": reason}
    if view.get("error_message") and reason is not None:
        out["error_message"] = reason
    message = view.get("message")
    if message:
        out["message"] = _message_in(str(message), lang, reason, str(view.get("error_message") or ""))
    detection = view.get("detection")
    if isinstance(detection, dict) and detection.get("message"):
        found = _sentence_of(str(detection["message"]), lang)
        if found is not None:
            out["detection"] = {**detection, "message": found}
    return out


def _sentence_of(english: str, lang: Lang) -> str | None:
    code = code_of_sentence(english)
    return None if code is None else sentence(code, lang)


def _message_in(message: str, lang: Lang, reason: str | None, error_message: str) -> str:
    found = _sentence_of(message, lang)
    if found is not None:
        return found
    scheduled = _RETRY_SCHEDULED.match(message)
    if scheduled and reason is not None:
        return text("retry_scheduled", lang, n=scheduled.group(1), max=scheduled.group(2), reason=reason)
    if reason is not None and (message == error_message or _GAVE_UP.search(message)):
        return reason
    return message


def progress_view(payload: dict[str, Any]) -> dict[str, Any]:
    """The public JSON of a progress event (already free of internal fields)."""
    keys = ("task_id", "progress", "stage", "subtasks", "eta_seconds", "message", "version")
    return {k: payload.get(k) for k in keys}


def last_change(task: Task) -> datetime:
    """The latest instant the task is known to have changed."""
    stamps = [task.created_at, task.updated_at, task.submitted_at, task.started_at, task.completed_at]
    return max(s for s in stamps if s is not None)


def status_group(name: str) -> frozenset[TaskStatus] | None:
    """The statuses of a named group (draft, active, terminal), or None for a plain status name."""
    return _STATUS_GROUPS.get(name)
