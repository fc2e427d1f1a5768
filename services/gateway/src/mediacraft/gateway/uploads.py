"""Receive one uploaded file: sniff, stream into the object store, tee, hash, probe.

Constant memory: the part flows from the socket through 4 MiB buffers into `put_stream`, which
stores it as it comes (a multipart upload on S3). The first bytes are sniffed before anything is
stored, so HTML or a playlist named .mp4 is refused having written nothing. The same bytes go to a
local file (ffprobe reads files, and previews need random access), hashed on the way for duplicate
suppression; hashing and writing run in a worker thread, overlapped with receiving the next buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, AsyncIterator

from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.filenames import display_name
from mediacraft.gateway.media_cache import MediaCache
from mediacraft.gateway.metrics import GatewayMetrics
from mediacraft.gateway.multipart import MultipartReader, PartHeaders
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.media import MediaLimits, probe_media, sniff_bytes
from mediacraft.shared.media.sniff import SNIFF_BYTES
from mediacraft.shared.ports.objects import ObjectInfo, ObjectStore, TooLarge
from mediacraft.shared.tasks import InputFile

BUFFER = 4 * 1024 * 1024
_CONTENT_TYPES = {"mp4": "video/mp4", "matroska": "video/x-matroska"}


@dataclass
class ReceivedFile:
    """An accepted upload: the task's input record, and its local copy for the media cache."""

    input: InputFile
    local: Path


class _Tee:
    """Hashes and writes buffers in a worker thread, one buffer behind the receiver."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha = hashlib.sha256()
        self._file: IO[bytes] | None = None
        self._pending: asyncio.Future[None] | None = None

    async def open(self) -> None:
        self._file = await asyncio.to_thread(open, self.path, "wb")

    def _write(self, data: bytes | bytearray) -> None:
        self.sha.update(data)
        if self._file is not None:
            self._file.write(data)

    async def feed(self, data: bytes | bytearray) -> None:
        """Queue `data`; waits only for the previous buffer, so receiving overlaps writing."""
        if self._pending is not None:
            await self._pending
        self._pending = asyncio.ensure_future(asyncio.to_thread(self._write, data))

    async def finish(self) -> None:
        if self._pending is not None:
            await self._pending
            self._pending = None
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None

    async def abandon(self) -> None:
        """Close and remove the local copy (after a failure)."""
        try:
            if self._pending is not None:
                await asyncio.gather(self._pending, return_exceptions=True)
            if self._file is not None:
                self._file.close()
        finally:
            self._pending = self._file = None
            self.path.unlink(missing_ok=True)


class UploadReceiver:
    """Turns one multipart file part into a stored, checked input."""

    def __init__(self, *, objects: ObjectStore, cache: MediaCache, limits: MediaLimits, metrics: GatewayMetrics) -> None:
        self.objects = objects
        self.cache = cache
        self.limits = limits
        self.metrics = metrics

    async def receive(self, reader: MultipartReader, part: PartHeaders, *, key: str, max_bytes: int) -> ReceivedFile:
        """Store the current part under `key`; every failure leaves no object and no local file."""
        head = await _read_head(reader)
        if not head:
            raise ApiError("empty_file", "The file is empty")
        try:
            container = sniff_bytes(head[:SNIFF_BYTES])
        except InvalidInput as exc:
            raise ApiError("unsupported_format", exc.message) from None
        if container.kind != "video":
            raise ApiError("unsupported_format", f"A video is needed here, not a {container.name} image")
        tee = _Tee(self.cache.temp_path())
        await tee.open()
        received = 0
        streamed = asyncio.Event()

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal received
            buf = bytearray(head)
            while True:
                chunk = await reader.read_chunk()
                if chunk is not None:
                    buf += chunk
                if len(buf) >= BUFFER or (chunk is None and buf):
                    received += len(buf)
                    if received > max_bytes:
                        raise TooLarge(f"The file is larger than the limit of {max_bytes} bytes")
                    # hand the buffer over whole (no copy) and start a new one
                    data, buf = buf, bytearray()
                    await tee.feed(data)
                    yield data  # type: ignore[misc]
                if chunk is None:
                    streamed.set()
                    return

        store = asyncio.ensure_future(self.objects.put_stream(
            key, chunks(), content_type=_CONTENT_TYPES.get(container.name, "application/octet-stream"),
            max_size=max_bytes,
        ))
        try:
            # probe the local copy while the store commits the object (an S3 multipart completion,
            # or a local fsync): neither waits for the other
            waiter = asyncio.ensure_future(streamed.wait())
            try:
                await asyncio.wait({store, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if store.done() and not streamed.is_set():
                await store  # the stream failed: raise its error
            await tee.finish()
            probing = asyncio.ensure_future(asyncio.to_thread(probe_media, tee.path, self.limits, expect="video"))
            results = await asyncio.gather(store, probing, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            info, probed = results
        except InvalidInput as exc:
            await self._abandon(key, tee, store)
            raise ApiError(exc.code, exc.message, status=413 if exc.code == "file_too_large" else None) from None
        except BaseException:
            await self._abandon(key, tee, store)
            raise
        item = InputFile(
            key=key,
            original_name=display_name(part.filename or "", default="upload"),
            size=info.size,
            content_hash=tee.sha.hexdigest(),
            media=probed.media,
        )
        return ReceivedFile(item, tee.path)

    async def _abandon(self, key: str, tee: _Tee, store: asyncio.Future[ObjectInfo]) -> None:
        if not store.done():
            store.cancel()
        await asyncio.gather(store, return_exceptions=True)
        await tee.abandon()
        # put_stream cleans up after itself when it fails; this covers a probe refusal after it
        await self.objects.delete(key)


async def _read_head(reader: MultipartReader) -> bytes:
    """At least the sniffing window of the part (less only when the part is shorter)."""
    head = bytearray()
    while len(head) < SNIFF_BYTES:
        chunk = await reader.read_chunk()
        if chunk is None:
            break
        head += chunk
    return bytes(head)
