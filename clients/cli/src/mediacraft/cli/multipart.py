"""A multipart/form-data body streamed from disk: form fields first, then each file in order.

Built by hand rather than with httpx's `files=` so that the exact length is known up front (the
API refuses an oversized upload from its Content-Length at once) and so that every chunk sent can
move an upload progress bar. Files are read a chunk at a time: a video is never held in memory.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FilePart:
    field: str
    path: Path
    size: int


def _quote(value: str) -> str:
    """A quoted-string parameter value; CR/LF could end the header, so they never get through."""
    cleaned = value.replace("\r", " ").replace("\n", " ")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MultipartBody:
    """Iterate it for the bytes; `content_type` and `length` go in the request headers."""

    def __init__(
        self,
        fields: list[tuple[str, str]],
        files: list[tuple[str, Path]],
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.boundary = f"mediacraft-{uuid.uuid4().hex}"
        self.fields = fields
        self.files = [FilePart(name, path, os.stat(path).st_size) for name, path in files]
        self.on_progress = on_progress
        self.file_bytes = sum(f.size for f in self.files)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field_head(self, name: str) -> bytes:
        return (f"--{self.boundary}\r\nContent-Disposition: form-data; name={_quote(name)}\r\n\r\n").encode()

    def _file_head(self, part: FilePart) -> bytes:
        kind = mimetypes.guess_type(part.path.name)[0] or "application/octet-stream"
        return (
            f"--{self.boundary}\r\n"
            f"Content-Disposition: form-data; name={_quote(part.field)}; filename={_quote(part.path.name)}\r\n"
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()

    @property
    def length(self) -> int:
        """The exact number of bytes iteration yields."""
        total = sum(len(self._field_head(n)) + len(v.encode()) + 2 for n, v in self.fields)
        total += sum(len(self._file_head(p)) + p.size + 2 for p in self.files)
        return total + len(f"--{self.boundary}--\r\n")

    def __iter__(self) -> Iterator[bytes]:
        for name, value in self.fields:
            yield self._field_head(name) + value.encode() + b"\r\n"
        sent = 0
        for part in self.files:
            yield self._file_head(part)
            remaining = part.size
            with open(part.path, "rb") as source:
                while remaining > 0:
                    chunk = source.read(min(CHUNK, remaining))
                    if not chunk:
                        # the file shrank while we sent it: the declared length would be a lie
                        raise OSError(f"{part.path} changed while it was being uploaded")
                    remaining -= len(chunk)
                    sent += len(chunk)
                    yield chunk
                    if self.on_progress is not None:
                        self.on_progress(sent, self.file_bytes)
            yield b"\r\n"
        yield f"--{self.boundary}--\r\n".encode()
