"""Receive one uploaded file: sniff, stream into the object store, hash, probe.

Constant memory: the part flows from the socket through 4 MiB buffers into `put_stream`, which
stores it as it comes (a multipart upload on S3). The first bytes are sniffed before anything is
stored, so HTML or a playlist named .mp4 is refused having written nothing. Each buffer is hashed
(sha256, for duplicate suppression) in a worker thread, overlapped with receiving the next one.

ffprobe needs a file on this machine, and so do frame previews. Two paths, chosen once from the
object store's `has_local_paths`:

- a store on this machine (the local directory of the single-process mode): the upload is written
  once, into the store; once committed, the object's own file (`local_path`) is probed, and
  previews read it in place. There is no local copy (`ReceivedFile.local` is None).
- a remote store (S3): the same bytes are also written to a local file in the media cache (the
  "tee", written by the hashing thread), probed while the store commits the object, and adopted
  into the cache for previews once the upload is attached to its task.

Either way, a refusal or failure removes the object and the local file, if any.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mediacraft.gateway.envelope import ApiError, sentence
from mediacraft.gateway.filenames import display_name
from mediacraft.gateway.media_cache import MediaCache
from mediacraft.gateway.metrics import GatewayMetrics
from mediacraft.gateway.multipart import MultipartReader, PartHeaders
from mediacraft.shared.errors import Conflict, InvalidInput
from mediacraft.shared.media import MediaLimits, ProbeResult, probe_media, sniff_bytes
from mediacraft.shared.media.sniff import SNIFF_BYTES
from mediacraft.shared.ports.objects import ObjectInfo, ObjectStore, TooLarge
from mediacraft.shared.tasks import InputFile

BUFFER = 4 * 1024 * 1024
_CONTENT_TYPES = {"mp4": "video/mp4", "matroska": "video/x-matroska"}


@dataclass
class ReceivedFile:
    """An accepted upload: the task's input record, and its local copy for the media cache if one was made."""

    input: InputFile
    local: Path | None


class _Tee:
    """Hashes buffers (and writes them to `path`, if given) in a worker thread, one buffer behind the receiver."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.sha = hashlib.sha256()
        self._file: IO[bytes] | None = None
        self._pending: asyncio.Future[None] | None = None

    async def open(self) -> None:
        if self.path is not None:
            self._file = await asyncio.to_thread(open, self.path, "wb")

    def _write(self, data: bytes | bytearray) -> None:
        self.sha.update(data)
        if self._file is not None:
            self._file.write(data)

    async def feed(self, data: bytes | bytearray) -> None:
        """Queue `data`; waits only for the previous buffer, so receiving overlaps hashing and writing."""
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
        """Close and remove the local copy, if any (after a failure)."""
        try:
            if self._pending is not None:
                await asyncio.gather(self._pending, return_exceptions=True)
            if self._file is not None:
                self._file.close()
        finally:
            self._pending = self._file = None
            if self.path is not None:
                self.path.unlink(missing_ok=True)


class UploadReceiver:
    """Turns one multipart file part into a stored, checked input."""

    def __init__(
        self, *, objects: ObjectStore, cache: MediaCache, limits: MediaLimits, metrics: GatewayMetrics
    ) -> None:
        self.objects = objects
        self.cache = cache
        self.limits = limits
        self.metrics = metrics
        self.single_write = objects.has_local_paths

    async def receive(self, reader: MultipartReader, part: PartHeaders, *, key: str, max_bytes: int) -> ReceivedFile:
        """Store the current part under `key`; every failure leaves no object and no local file."""
        head = await _read_head(reader)
        if not head:
            raise ApiError("empty_file", "The file is empty")
        try:
            container = sniff_bytes(head[:SNIFF_BYTES])
        except InvalidInput as exc:
            raise ApiError("unsupported_format", sentence(exc.message)) from None
        if container.kind != "video":
            raise ApiError("unsupported_format", f"A video is needed here, not a {container.name} image")
        local = None if self.single_write else self.cache.temp_path()
        tee = _Tee(local)
        await tee.open()
        received = 0
        streamed = asyncio.Event()

        async def handed_over(data: bytearray) -> bytearray:
            nonlocal received
            received += len(data)
            if received > max_bytes:
                raise TooLarge(f"The file is larger than the limit of {max_bytes} bytes")
            await tee.feed(data)
            return data

        async def chunks() -> AsyncIterator[bytes]:
            # each byte is copied once, into a buffer allocated at its full size (growing one piece
            # by piece would copy it again at each reallocation); a full buffer is handed over whole
            # and never touched again
            buf, filled = bytearray(BUFFER), 0
            piece: bytes | memoryview | None = head
            while piece is not None:
                view = memoryview(piece)
                while view:
                    take = min(len(view), BUFFER - filled)
                    buf[filled : filled + take] = view[:take]
                    filled += take
                    view = view[take:]
                    if filled == BUFFER:
                        yield await handed_over(buf)  # type: ignore[misc]
                        buf, filled = bytearray(BUFFER), 0
                piece = await reader.read_chunk()
            if filled:
                del buf[filled:]
                yield await handed_over(buf)  # type: ignore[misc]
            streamed.set()

        store = asyncio.ensure_future(
            self.objects.put_stream(
                key,
                chunks(),
                content_type=_CONTENT_TYPES.get(container.name, "application/octet-stream"),
                max_size=max_bytes,
            )
        )
        try:
            if local is None:
                info, probed = await self._probe_committed(key, store, tee)
            else:
                info, probed = await self._probe_tee(store, streamed, tee, local)
        except InvalidInput as exc:
            await self._abandon(key, tee, store)
            raise ApiError(
                exc.code, sentence(exc.message), status=413 if exc.code == "file_too_large" else None
            ) from None
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
        return ReceivedFile(item, local)

    async def _probe_committed(
        self, key: str, store: asyncio.Future[ObjectInfo], tee: _Tee
    ) -> tuple[ObjectInfo, ProbeResult]:
        """Single write: wait for the commit and the last hash, then probe the object's own file."""
        info, _ = await asyncio.gather(store, tee.finish())
        path = await self.objects.local_path(key)
        if path is None:
            raise Conflict("the upload was removed before it could be checked")
        return info, await asyncio.to_thread(probe_media, path, self.limits, expect="video")

    async def _probe_tee(
        self, store: asyncio.Future[ObjectInfo], streamed: asyncio.Event, tee: _Tee, local: Path
    ) -> tuple[ObjectInfo, ProbeResult]:
        """Tee: probe the local copy while the store commits the object (an S3 multipart completion)."""
        waiter = asyncio.ensure_future(streamed.wait())
        try:
            either: set[asyncio.Future[Any]] = {store, waiter}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if store.done() and not streamed.is_set():
            await store  # the stream failed: raise its error
        await tee.finish()
        probing = asyncio.ensure_future(asyncio.to_thread(probe_media, local, self.limits, expect="video"))
        results = await asyncio.gather(store, probing, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        info, probed = results
        return info, probed  # type: ignore[return-value]

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
