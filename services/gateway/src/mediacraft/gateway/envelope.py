"""The response envelope of every JSON answer, and the stable machine codes of errors.

`{success, code, message, data, meta: {timestamp, version, request_id}}`: clients branch on `code`
(never on `message`, which is for people and may change).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping

from starlette.responses import Response

from mediacraft.shared.errors import Conflict, InvalidInput, MediaCraftError, NotFound
from mediacraft.shared.ports.objects import TooLarge

OK = "ok"

# Stable codes and the HTTP status each one answers with.
STATUS_OF_CODE: dict[str, int] = {
    OK: 200,
    "duplicate": 200,
    "accepted": 202,
    "created": 201,
    "validation_error": 422,
    "invalid_input": 422,
    "invalid_task_id": 422,
    "invalid_config": 422,
    "invalid_regions": 422,
    "unknown_task_type": 422,
    "invalid_cursor": 422,
    "invalid_key": 422,
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
    "idempotency_in_progress": 409,
    "expired": 410,
    "not_found": 404,
    "forbidden_origin": 403,
    "unauthorized": 401,
    "file_too_large": 413,
    "storage_quota_exceeded": 413,
    "payload_too_large": 413,
    "range_not_satisfiable": 416,
    "rate_limited": 429,
    "too_many_identities": 429,
    "too_many_waiting": 429,
    "unavailable": 503,
    "internal_error": 500,
}


class ApiError(Exception):
    """An answer other than success: a code from STATUS_OF_CODE and a message for a person."""

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
    return ApiError("internal_error", "Something went wrong on our side", status=500)


def body(
    *,
    success: bool,
    code: str,
    message: str,
    data: Any,
    request_id: str,
    version: str,
    now: datetime | None = None,
) -> bytes:
    """The envelope as JSON bytes."""
    doc = {
        "success": success,
        "code": code,
        "message": message,
        "data": data,
        "meta": {
            "timestamp": (now or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z"),
            "version": version,
            "request_id": request_id,
        },
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class EnvelopeResponse(Response):
    """A JSON response in the envelope; the request id comes from the request's scope."""

    media_type = "application/json"

    def __init__(
        self,
        data: Any = None,
        *,
        request_id: str,
        version: str,
        code: str = OK,
        message: str = "OK",
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        status = status_code or STATUS_OF_CODE.get(code, 200)
        payload = body(
            success=status < 400, code=code, message=message, data=data, request_id=request_id, version=version
        )
        super().__init__(payload, status_code=status, headers=dict(headers or {}), media_type=self.media_type)


def error_response(err: ApiError, *, request_id: str, version: str) -> EnvelopeResponse:
    """The envelope for an ApiError, with its headers (Retry-After and the like)."""
    return EnvelopeResponse(
        err.data,
        request_id=request_id,
        version=version,
        code=err.code,
        message=err.message,
        status_code=err.status,
        headers=err.headers,
    )
