"""The fields of a one-call submit: form fields before the files of a multipart body, or a small
JSON or urlencoded body (generation tasks, which take no files)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from mediacraft.gateway.body_stream import BodyStream
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.multipart import FormFields, MultipartReader, PartHeaders


@dataclass(frozen=True)
class SubmitForm:
    """The form fields and config; for multipart, the reader and the first file part it stopped at."""

    fields: dict[str, Any]
    config: Any
    reader: MultipartReader | None = None
    first_file: PartHeaders | None = None


async def read_submit_form(body: BodyStream, limits: FormFields, body_limit: int) -> SubmitForm:
    """Read the fields of a one-call submit, leaving a multipart body at its first file.

    Multipart fields are bounded by `limits` (number, each, all together); a JSON or urlencoded
    body by `body_limit`."""
    if body.is_multipart:
        return await _fields_before_files(body.multipart(), limits)
    fields = await small_form(body, body_limit)
    config = fields.get("config", {}) if not isinstance(fields.get("config"), str) else _json_field(fields["config"])
    return SubmitForm(fields, config)


async def _fields_before_files(reader: MultipartReader, limits: FormFields) -> SubmitForm:
    fields: dict[str, Any] = {}
    part = await reader.next_part()
    while part is not None and not part.is_file:
        raw = await limits.read(reader)
        fields[part.name] = raw.decode("utf-8", "replace")
        part = await reader.next_part()
    return SubmitForm(fields, _json_field(fields.get("config")), reader, part)


async def small_form(body: BodyStream, limit: int) -> dict[str, Any]:
    """A JSON object or urlencoded form body of at most `limit` bytes (submits without files)."""
    raw = bytearray()
    async for chunk in body.chunks:
        raw += chunk
        if len(raw) > limit:
            raise ApiError("payload_too_large", "The request body is too large")
    if body.media_type == "application/x-www-form-urlencoded":
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ApiError("invalid_input", "Send JSON, a form, or multipart/form-data with files") from None
    if not isinstance(doc, dict):
        raise ApiError("invalid_input", "The body must be a JSON object")
    return doc


def _json_field(value: str | None) -> Any:
    if value is None or not value.strip():
        return {}
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError("invalid_config", "The config field must be JSON") from None
