"""Object store port: files of uploads and results, streamed, never held whole in memory."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from mediacraft.shared.errors import InvalidInput, MediaCraftError

CHUNK = 1024 * 1024


class TooLarge(MediaCraftError):
    """A streamed upload went over its size limit; the partial object has been removed."""

    code = "file_too_large"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime | None = None
    content_type: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class MultipartInfo:
    key: str
    upload_id: str
    initiated: datetime | None


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise InvalidInput.

    Safe: non-empty, at most 1024 bytes, relative, '/'-separated segments that are neither empty,
    '.' nor '..', and no NUL, backslash or other control characters.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInput("object key is empty", code="invalid_key")
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise InvalidInput("object key is too long", code="invalid_key")
    if any(ord(c) < 32 or ord(c) == 127 for c in key) or "\\" in key:
        raise InvalidInput("object key has control characters or backslashes", code="invalid_key")
    if key.startswith("/"):
        raise InvalidInput("object key must be relative", code="invalid_key")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise InvalidInput("object key has an empty, '.' or '..' segment", code="invalid_key")
    return key


class ObjectStore(Protocol):
    #: True when committed objects are files on this machine that `local_path` returns, so that
    #: a caller can decide before an upload whether it needs a local copy of its own.
    has_local_paths: bool

    async def start(self) -> None:
        """Create the bucket or root directory if missing (idempotent)."""

    async def close(self) -> None: ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str = "application/octet-stream",
        max_size: int | None = None,
    ) -> ObjectInfo:
        """Store a stream of unknown length in constant memory.

        A chunk may still be read after the next one was asked for: never change one once yielded.
        Over `max_size` bytes: raise TooLarge and leave no object and no incomplete upload behind.
        If the stream raises, the same clean-up happens and the error propagates.
        """

    async def put_file(self, key: str, path: Path, *, content_type: str = "application/octet-stream") -> ObjectInfo: ...

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        """Download to a local file; NotFound if missing."""

    def open_read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes [start, end] (end inclusive, like HTTP Range); NotFound if missing."""

    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def local_path(self, key: str) -> Path | None:
        """A path on this machine the committed object can be read from, or None (missing, or a remote store).

        Read only: the file belongs to the store, and a delete or replacement of `key` changes it.
        """

    async def delete(self, key: str) -> bool:
        """True when an object was removed."""

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix` (a folder-like prefix ending in '/'); returns count."""

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]: ...

    async def presigned_get(self, key: str, *, expires_seconds: int = 300, filename: str | None = None) -> str | None:
        """A short-lived URL to GET the object, or None when the adapter cannot give one."""

    async def list_incomplete_uploads(self, prefix: str = "") -> builtins.list[MultipartInfo]: ...

    async def abort_incomplete_uploads(self, older_than: datetime, prefix: str = "") -> int:
        """Abort multipart uploads started before `older_than`; returns how many."""

    async def ping(self) -> bool: ...
