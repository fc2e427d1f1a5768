"""Object store adapters: `local` (a directory) and `s3` (the minio SDK), built by the factory.

This module holds what both adapters share, so that they refuse the same inputs with the same
errors and handle local files alike: argument checks, and streaming to and from local files in
an executor. It imports neither adapter (the S3 one needs `minio`).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import Executor
from pathlib import Path
from typing import BinaryIO, TypeVar

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.ports.objects import CHUNK, validate_key

T = TypeVar("T")

# S3 refuses presigned URLs that live longer than a week.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def validate_prefix(prefix: str, *, folder: bool = False) -> str:
    """Return a listing prefix ('' or a safe key start, '/'-terminated when `folder`), else InvalidInput."""
    if prefix == "" and not folder:
        return prefix
    if folder and not prefix.endswith("/"):
        raise InvalidInput("prefix must be a folder ending in '/'", code="invalid_key")
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def validate_range(start: int, end: int | None) -> None:
    """Refuse a negative start or an end before the start (end inclusive, like HTTP Range)."""
    if start < 0 or (end is not None and end < start):
        raise InvalidInput(f"invalid byte range {start}-{'' if end is None else end}", code="invalid_range")


def range_not_satisfiable(start: int, size: int) -> InvalidInput:
    """The error both adapters raise for a range that starts at or past the end of an object."""
    return InvalidInput(f"range starts at {start} but the object has {size} bytes", code="invalid_range")


def validate_expiry(expires_seconds: int) -> int:
    """Presigned URLs live between 1 second and a week."""
    if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
        raise InvalidInput("presigned URL expiry must be between 1 s and 7 days", code="invalid_expiry")
    return expires_seconds


async def finish_despite_cancel(aw: Awaitable[T]) -> T:
    """Await clean-up that must run to its end even when the caller is cancelled meanwhile."""
    return await asyncio.shield(asyncio.ensure_future(aw))


async def file_chunks(path: Path, executor: Executor, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
    """Read a local file in chunks, each read done in `executor`."""
    loop = asyncio.get_running_loop()
    file = await loop.run_in_executor(executor, open, path, "rb")
    try:
        while data := await loop.run_in_executor(executor, file.read, chunk_size):
            yield data
    finally:
        # a buffered file's close() waits for a read still running in a thread
        await finish_despite_cancel(loop.run_in_executor(executor, file.close))


async def save_stream(chunks: AsyncIterator[bytes], path: Path, executor: Executor, *, fsync: bool = True) -> int:
    """Write a stream to `path` atomically (temp file beside it, fsync, rename); returns its size.

    On any error or cancellation the temp file is removed and `path` is left as it was.
    """
    loop = asyncio.get_running_loop()
    file, tmp = await loop.run_in_executor(executor, _temp_beside, path)
    size = 0
    try:
        async for data in chunks:
            await loop.run_in_executor(executor, file.write, data)
            size += len(data)
        await loop.run_in_executor(executor, _install, file, tmp, path, fsync)
    except BaseException:
        await finish_despite_cancel(loop.run_in_executor(executor, _discard, file, tmp))
        raise
    return size


def _temp_beside(path: Path) -> tuple[BinaryIO, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".part")
    return os.fdopen(fd, "wb"), Path(name)


def _install(file: BinaryIO, tmp: Path, path: Path, fsync: bool) -> None:
    file.flush()
    if fsync:
        os.fsync(file.fileno())
    file.close()
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)


def _discard(file: BinaryIO, tmp: Path) -> None:
    # close() takes the file's lock, so it waits for a write still running in another thread
    file.close()
    tmp.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
