"""Reading the API's envelope off an HTTP response: `{success, code, message, error_code, data, meta}`,
where `code` is the HTTP status and `error_code` the stable code of a failure (null on success)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from mediacraft.cli.errors import ApiError


@dataclass(frozen=True)
class Reply:
    """A successful answer: its data, its HTTP status (200, 201 created, 202 accepted) and the server's clock.

    A duplicate submit is a success whose data says `"duplicate": true`."""

    data: Any
    status: int
    server_time: datetime | None
    request_id: str | None
    api_version: str | None = None


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 instant from the API (`...Z`), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header given in seconds (the form the API uses)."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def unwrap(response: httpx.Response) -> Reply:
    """The reply in an envelope; ApiError for an error envelope or an answer that is not one."""
    doc = _json_or_none(response)
    request_id = response.headers.get("x-request-id")
    if not isinstance(doc, dict) or not isinstance(doc.get("success"), bool) or not isinstance(doc.get("code"), int):
        # a proxy's error page, or something that is not MediaCraft at this address
        snippet = " ".join(response.text[:120].split()) if response.content else ""
        detail = f": {snippet}" if snippet else ""
        raise ApiError(
            f"http_{response.status_code}",
            f"Unexpected answer from the server (HTTP {response.status_code}){detail}",
            http_status=response.status_code,
            request_id=request_id,
            retry_after=retry_after(response),
        )
    meta_doc = doc.get("meta")
    meta: dict[str, Any] = meta_doc if isinstance(meta_doc, dict) else {}
    request_id = meta.get("request_id") or request_id
    if not doc["success"] or response.status_code >= 400:
        error_code = str(doc.get("error_code") or f"http_{response.status_code}")
        raise ApiError(
            error_code,
            str(doc.get("message") or error_code),
            http_status=response.status_code,
            data=doc.get("data"),
            request_id=request_id,
            retry_after=retry_after(response),
        )
    return Reply(
        data=doc.get("data"),
        status=response.status_code,
        server_time=parse_time(meta.get("timestamp")),
        request_id=request_id,
        api_version=str(meta["version"]) if meta.get("version") is not None else None,
    )


def _json_or_none(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None
