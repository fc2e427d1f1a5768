"""A pull-style streaming reader of multipart/form-data bodies, in constant memory.

Starlette's form parser spools files to temporary files before the route sees them; an upload
must instead flow from the socket into the object store while it is checked and counted. This
wraps python-multipart's push parser so that a route can pull one part at a time, and each part's
data chunk by chunk, straight from the request stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from mediacraft.gateway.envelope import ApiError

MAX_HEADER_BYTES = 8 * 1024
MAX_PART_HEADERS = 16


@dataclass(frozen=True)
class PartHeaders:
    """What a part says about itself: its field name, and for a file its client-side name."""

    name: str
    filename: str | None
    content_type: str | None

    @property
    def is_file(self) -> bool:
        return self.filename is not None


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type, or 422 when it is anything else."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError("invalid_input", "Send the file as multipart/form-data (field name: file)", status=422)
    return boundary


class MultipartReader:
    """Pull parts and their data from a request body stream."""

    def __init__(self, body: AsyncIterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._events: deque[tuple[str, bytes | memoryview]] = deque()
        self._body_done = False
        self._in_part = False
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": lambda: self._events.append(("begin", b"")),
                "on_header_field": lambda d, s, e: self._events.append(("hfield", d[s:e])),
                "on_header_value": lambda d, s, e: self._events.append(("hvalue", d[s:e])),
                "on_header_end": lambda: self._events.append(("hend", b"")),
                "on_headers_finished": lambda: self._events.append(("hdone", b"")),
                # a view, not a copy: the receiver copies each byte once, into its buffer
                "on_part_data": lambda d, s, e: self._events.append(("data", memoryview(d)[s:e])),
                "on_part_end": lambda: self._events.append(("pend", b"")),
                "on_end": lambda: self._events.append(("end", b"")),
            },
            max_header_size=MAX_HEADER_BYTES,
        )

    async def next_part(self) -> PartHeaders | None:
        """Skip what is left of the current part and return the next part's headers; None at the end."""
        while self._in_part:
            await self.read_chunk()
        if self._ended:
            return None
        kind, _ = await self._next_event()
        if kind == "end":
            self._ended = True
            return None
        if kind != "begin":
            raise _malformed()
        headers: dict[str, str] = {}
        field, value = bytearray(), bytearray()
        while True:
            kind, data = await self._next_event()
            if kind == "hfield":
                field += data
            elif kind == "hvalue":
                value += data
            elif kind == "hend":
                # latin-1 keeps the raw bytes; names are decoded as UTF-8 once parsed
                headers[field.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
                field, value = bytearray(), bytearray()
                if len(headers) > MAX_PART_HEADERS:
                    raise ApiError("invalid_input", f"A multipart part has more than {MAX_PART_HEADERS} headers")
            elif kind == "hdone":
                break
            else:
                raise _malformed()
        self._in_part = True
        return _part_headers(headers)

    async def read_chunk(self) -> bytes | memoryview | None:
        """The next piece of the current part's data (valid until the next call); None at its end."""
        if not self._in_part:
            return None
        while True:
            kind, data = await self._next_event()
            if kind == "data":
                if data:
                    return data
                continue
            if kind == "pend":
                self._in_part = False
                return None
            raise _malformed()

    async def read_all(self, limit: int) -> bytes:
        """The rest of the current part, refused with 413 past `limit` bytes (form fields)."""
        out = bytearray()
        while (chunk := await self.read_chunk()) is not None:
            out += chunk
            if len(out) > limit:
                raise ApiError("payload_too_large", f"A form field is larger than {limit} bytes")
        return bytes(out)

    async def _next_event(self) -> tuple[str, bytes | memoryview]:
        while not self._events:
            if self._body_done:
                raise _malformed()
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._body_done = True
                self._parser.finalize()
                if not self._events:
                    raise _malformed() from None
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise ApiError("invalid_input", f"Malformed multipart body: {exc}", status=422) from None
        return self._events.popleft()


class FormFields:
    """The non-file fields of one multipart body, bounded in number and in total size as well as
    one by one: a body of many small fields is refused as early as one large field."""

    def __init__(self, *, max_fields: int, max_field_bytes: int, max_total_bytes: int) -> None:
        self.max_fields = max_fields
        self.max_field_bytes = max_field_bytes
        self.max_total_bytes = max_total_bytes
        self.count = 0
        self.total = 0

    async def read(self, reader: MultipartReader) -> bytes:
        """The current part's value; 413 past any of the three limits."""
        self.count += 1
        if self.count > self.max_fields:
            raise ApiError("too_many_fields", f"A form may have at most {self.max_fields} fields besides its files")
        left = self.max_total_bytes - self.total
        if left < self.max_field_bytes:
            try:
                raw = await reader.read_all(left)
            except ApiError:
                raise ApiError(
                    "payload_too_large", f"The form's fields are larger than {self.max_total_bytes} bytes together"
                ) from None
        else:
            raw = await reader.read_all(self.max_field_bytes)
        self.total += len(raw)
        return raw


def _part_headers(headers: dict[str, str]) -> PartHeaders:
    disposition, params = parse_options_header(headers.get("content-disposition", ""))
    if disposition != b"form-data" or b"name" not in params:
        raise _malformed()
    filename = params.get(b"filename")
    return PartHeaders(
        name=params[b"name"].decode("utf-8", "replace"),
        filename=filename.decode("utf-8", "replace") if filename is not None else None,
        content_type=headers.get("content-type"),
    )


def _malformed() -> ApiError:
    return ApiError("invalid_input", "Malformed or truncated multipart body", status=422)
