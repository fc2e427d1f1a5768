"""A request body still to be read, as plain values: its chunks, Content-Type and declared length.

Uploads are parsed as they arrive (no spooling), so the application layer receives the body as a
stream rather than parsed parts; the routes fill this from the HTTP request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from mediacraft.gateway.multipart import MultipartReader, boundary_of


@dataclass(frozen=True)
class BodyStream:
    """The chunks of a body, its Content-Type and its Content-Length (None when not declared)."""

    chunks: AsyncIterator[bytes]
    content_type: str | None
    declared_length: int | None

    @property
    def is_multipart(self) -> bool:
        return (self.content_type or "").lower().startswith("multipart/")

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower case."""
        return (self.content_type or "").split(";")[0].strip().lower()

    def multipart(self) -> MultipartReader:
        """A reader of its parts; 422 when the body is not multipart/form-data."""
        return MultipartReader(self.chunks, boundary_of(self.content_type))
