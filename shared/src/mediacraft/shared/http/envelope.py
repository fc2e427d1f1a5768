"""The response envelope of every JSON answer of every MediaCraft HTTP service, as the product's
API documents define it, and the stable machine codes of errors:

    {"success": true, "code": 200, "message": "Success", "error_code": null, "data": {...},
     "meta": {"timestamp": "2030-01-01T00:00:00.000000Z", "version": "v1", "request_id": "<uuid>"}}

`code` is the HTTP status as an integer. On success `message` is "Success" and `error_code` is
null; on failure `message` is a sentence for a person and `error_code` a stable code from
STATUS_OF_CODE, which clients and translations branch on (never on `message`, which may change).
A success that says more (a duplicate submit) says it in `data`.

Pure: no web framework here, so any package can build or read an envelope; the Starlette response
and the error handlers are in `mediacraft.shared.http.asgi`.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mediacraft.shared import error_texts
from mediacraft.shared.errors import Conflict, InvalidInput, MediaCraftError, NotFound, RetryableError
from mediacraft.shared.ports.objects import TooLarge

VERSION = "v1"
SUCCESS = "Success"
KEYS = ("success", "code", "message", "error_code", "data", "meta")
META_KEYS = ("timestamp", "version", "request_id")

# Every stable error code and the HTTP status it answers with.
STATUS_OF_CODE: dict[str, int] = {
    "validation_error": 422,
    "invalid_input": 422,
    "invalid_task_id": 422,
    "invalid_project_id": 422,
    "invalid_script_config": 422,
    "invalid_config": 422,
    "invalid_regions": 422,
    "unknown_task_type": 422,
    "invalid_cursor": 422,
    "invalid_video_id": 422,
    "invalid_key": 422,
    # generation settings (mediacraft.shared.generation, the rules the gateway and the worker share)
    "invalid_generation_config": 422,
    "unsupported_task_type": 422,
    "unknown_parameter": 422,
    "invalid_prompt": 422,
    "invalid_size": 422,
    "invalid_count": 422,
    "invalid_duration": 422,
    "invalid_fps": 422,
    "invalid_seed": 422,
    "invalid_style": 422,
    "idempotency_key_reused": 422,
    "invalid_idempotency_key": 422,
    "unsupported_format": 415,
    "invalid_media": 422,
    "media_too_large": 422,
    "media_too_long": 422,
    "too_many_streams": 422,
    "frame_rate_too_high": 422,
    "empty_file": 422,
    "missing_file": 422,
    "too_many_files": 409,
    "upload_not_allowed": 409,
    "upload_required": 409,
    "not_ready": 409,
    "invalid_state": 409,
    "not_cancellable": 409,
    "not_retryable": 409,
    "conflict": 409,
    "script_in_progress": 409,
    "idempotency_in_progress": 409,
    "reprocess_running": 409,
    "expired": 410,
    "not_found": 404,
    "method_not_allowed": 405,
    "forbidden_origin": 403,
    "invalid_host": 400,
    "unauthorized": 401,
    "file_too_large": 413,
    "storage_quota_exceeded": 413,
    "payload_too_large": 413,
    "too_many_fields": 413,
    "request_timeout": 408,
    "range_not_satisfiable": 416,
    "rate_limited": 429,
    "too_many_identities": 429,
    "too_many_waiting": 429,
    "too_many_drafts": 429,
    "unavailable": 503,
    "storage_unavailable": 503,
    "internal_error": 500,
}

# The code of an error the web framework answers by itself (an unknown route, a wrong method).
_CODE_OF_STATUS: dict[int, str] = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden_origin",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_format",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def code_of_status(status: int) -> str:
    """The stable code for an error known only by its HTTP status."""
    return _CODE_OF_STATUS.get(status, "internal_error" if status >= 500 else "invalid_input")


class ApiError(Exception):
    """An answer other than success: a code from STATUS_OF_CODE and a sentence for a person."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_OF_CODE.get(code, 400)
        self.data = data
        self.headers = dict(headers or {})


def sentence(reason: str) -> str:
    """A reason worded as a clause below the routes ("the file is empty") as an answer's sentence."""
    return reason[:1].upper() + reason[1:]


def from_domain(exc: MediaCraftError) -> ApiError:
    """The API answer for a typed error raised below the routes."""
    if isinstance(exc, TooLarge):
        return ApiError("file_too_large", exc.message)
    if isinstance(exc, NotFound):
        return ApiError("not_found", "Task not found")
    if isinstance(exc, Conflict):
        code = exc.code if exc.code in STATUS_OF_CODE else "conflict"
        return ApiError(code, exc.message, status=409)
    if isinstance(exc, InvalidInput):
        code = exc.code if exc.code in STATUS_OF_CODE else "invalid_input"
        return ApiError(code, sentence(exc.message), status=STATUS_OF_CODE.get(code, 422))
    if isinstance(exc, RetryableError):
        return unavailable(exc)
    return internal_error()


RETRY_AFTER_SECONDS = 5


def unavailable(exc: RetryableError) -> ApiError:
    """503 with `Retry-After` for a backend that may answer later (object storage, the broker)."""
    code = "storage_unavailable" if exc.code == "storage_unavailable" else "unavailable"
    wait = max(1, round(exc.delay)) if exc.delay else RETRY_AFTER_SECONDS
    # what a person reads is the error table's sentence, never the backend's own text (hosts,
    # ports, buckets, keys), which goes to the log with the request id
    return ApiError(code, error_texts.sentence(code) or code, headers={"Retry-After": str(wait)})


def internal_error() -> ApiError:
    """The answer to a failure nobody planned for (its details go to the log, not to the caller)."""
    return ApiError("internal_error", "Something went wrong on our side", status=500)


def success(data: Any, *, request_id: str, status: int = 200, now: datetime | None = None) -> dict[str, Any]:
    """The envelope of a success (a 2xx or 3xx status)."""
    if not 200 <= status < 400:
        raise ValueError(f"a success answers 2xx or 3xx, not {status}")
    return _document(True, status, SUCCESS, None, data, request_id, now)


def failure(err: ApiError, *, request_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The envelope of an error answer: its status as `code`, its stable code as `error_code`."""
    if err.status < 400:
        raise ValueError(f"an error answers 4xx or 5xx, not {err.status}")
    return _document(False, err.status, err.message, err.code, err.data, request_id, now)


def encode(doc: Mapping[str, Any]) -> bytes:
    """An envelope as compact UTF-8 JSON."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _document(
    ok: bool, status: int, message: str, error_code: str | None, data: Any, request_id: str, now: datetime | None
) -> dict[str, Any]:
    return {
        "success": ok,
        "code": status,
        "message": message,
        "error_code": error_code,
        "data": data,
        "meta": {
            "timestamp": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "version": VERSION,
            "request_id": request_id,
        },
    }


_GIVEN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIds:
    """Request ids: a caller's well-formed X-Request-ID, else a new UUID.

    New ids are a random UUID per process with a counter folded into its last 48 bits (which a
    version 4 UUID leaves random), so they stay unique without reading the system's random source
    on every request.
    """

    def __init__(self) -> None:
        self._base = uuid.uuid4().int
        self._count = itertools.count(1)

    def new(self) -> str:
        return str(uuid.UUID(int=self._base ^ (next(self._count) & 0xFFFF_FFFF_FFFF)))

    def accept(self, given: str | None) -> str:
        """The caller's id if it is well formed (so one trace spans services), else a new one."""
        return given if given and _GIVEN_ID.match(given) else self.new()
