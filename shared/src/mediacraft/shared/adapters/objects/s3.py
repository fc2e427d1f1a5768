"""Object store on S3 (MinIO in production, SeaweedFS in tests) through the `minio` SDK.

minio is a blocking client: every call runs in the store's own thread pool, never on the event
loop, and never waits there for a slow caller: a thread is held only while bytes move to or from
the server, so a thousand slow uploads do not pin a thousand threads.

`put_stream` drives the multipart upload itself, part by part, instead of handing minio a
file-like object to pull from: the caller's async stream can then be read on the loop, one part
can upload while the next is filling (about three parts in memory at the peak), the size limit is checked
before a byte over it leaves the process, and a failure, a limit or a cancellation aborts the
upload after its last part has settled, so that nothing is left behind. minio's public API has no
part-level calls, so this module uses its internal ones (`_create_multipart_upload`,
`_upload_part`, `_complete_multipart_upload`, `_abort_multipart_upload`, `_execute`); the
constructor checks that they exist so that an incompatible minio fails at start-up, not mid-upload.

Incomplete uploads are listed with a signed request of our own rather than minio's internal
`_list_multipart_uploads`: that one forces `encoding-type=url` and then URL-decodes keys, which
mangles keys containing '+' or '%' on servers (SeaweedFS) that announce the encoding but do not
apply it, and it drops the next-upload-id marker of truncated pages.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from xml.etree import ElementTree

import certifi
import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from mediacraft.shared.adapters.objects import (
    file_chunks,
    finish_despite_cancel,
    range_not_satisfiable,
    save_stream,
    validate_expiry,
    validate_prefix,
    validate_range,
)
from mediacraft.shared.errors import Conflict, InvalidInput, MediaCraftError, NotFound, RetryableError
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.objects import CHUNK, MultipartInfo, ObjectInfo, TooLarge, validate_key

T = TypeVar("T")
log = get_logger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000
# Parts double in size every 2,000 parts, so an upload of unknown length fits in 10,000 parts up
# to 31 times 2,000 base parts (about 484 GiB at 8 MiB) while small ones keep small buffers.
PARTS_PER_SIZE_STEP = 2_000

_INTERNALS = (
    "_create_multipart_upload",
    "_upload_part",
    "_complete_multipart_upload",
    "_abort_multipart_upload",
    "_execute",
)
_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
}
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "ResourceNotFound", "NoSuchObject"}


class S3ObjectStore:
    """ObjectStore over one S3 bucket."""

    has_local_paths = False

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = True,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_threads: int = 16,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        public_endpoint: str | None = None,
        public_secure: bool | None = None,
    ) -> None:
        missing = [name for name in _INTERNALS if not callable(getattr(Minio, name, None))]
        if missing:
            raise RuntimeError(f"this minio release lacks {', '.join(missing)}; pin minio>=7.2,<8")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self._bucket = bucket
        self._part_size = part_size
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="s3-objects")
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            maxsize=max_threads,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=self._http
        )
        # Presigned URLs are signed for the host the browser will use; signing needs no request,
        # so the public client must know its region rather than ask a host it may not reach.
        self._presigner = (
            Minio(
                public_endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure if public_secure is None else public_secure,
                region=region or "us-east-1",
                http_client=self._http,
            )
            if public_endpoint
            else self._client
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    async def start(self) -> None:
        """Create the bucket if it is missing (idempotent, safe when replicas race)."""
        if await self._run(self._client.bucket_exists, self._bucket):
            return
        try:
            await self._run(self._client.make_bucket, self._bucket)
        except MediaCraftError as exc:
            if not isinstance(exc.__cause__, S3Error) or exc.__cause__.code != "BucketAlreadyOwnedByYou":
                raise

    async def close(self) -> None:
        """Stop taking work and drop idle connections; calls in flight finish on their own."""
        self._executor.shutdown(wait=False)
        self._http.clear()

    async def ping(self, timeout: float = 5.0) -> bool:
        """True when the server answers with our credentials and the bucket exists."""
        try:
            return await asyncio.wait_for(self._run(self._client.bucket_exists, self._bucket), timeout)
        except Exception:
            return False

    # writing

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str = "application/octet-stream",
        max_size: int | None = None,
    ) -> ObjectInfo:
        """Store a stream of unknown length as a multipart upload, in memory bounded by ~3 parts.

        Over `max_size`, on an error of the stream or the server, or on cancellation, the upload
        is aborted (after its part in flight settles) and the error propagates.
        """
        validate_key(key)
        headers = {"Content-Type": content_type or "application/octet-stream"}
        upload_id: str | None = None
        parts: list[Part] = []
        in_flight: Future[str] | None = None
        pending = _PartBuffer()
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise TooLarge(f"upload is larger than the limit of {max_size} bytes")
                pending.add(chunk)
                # numbered after the part in flight, which is not in `parts` yet
                number = len(parts) + (2 if in_flight is not None else 1)
                while pending.size >= self._part_size_of(number):
                    if number >= MAX_PARTS:  # keep the last part free for the tail
                        raise TooLarge(f"upload needs more than {MAX_PARTS} parts")
                    body = pending.take(self._part_size_of(number))
                    if upload_id is None:
                        upload_id = await self._run(
                            self._client._create_multipart_upload, self._bucket, key, dict(headers)
                        )
                    if in_flight is not None:
                        await self._settle(in_flight, parts)
                    in_flight = self._executor.submit(
                        self._client._upload_part, self._bucket, key, body, None, upload_id, number
                    )
                    del body
                    number += 1
            tail = pending.take(pending.size)
            if upload_id is None:
                await self._run(self._put_small, key, tail, headers["Content-Type"])
            else:
                if in_flight is not None:
                    await self._settle(in_flight, parts)
                    in_flight = None
                if tail:
                    etag = await self._run(
                        self._client._upload_part, self._bucket, key, tail, None, upload_id, len(parts) + 1
                    )
                    parts.append(Part(len(parts) + 1, etag))
                await self._run(self._client._complete_multipart_upload, self._bucket, key, upload_id, parts)
                upload_id = None
        except BaseException:
            if upload_id is not None:
                try:
                    await finish_despite_cancel(self._run(self._abort_after, in_flight, key, upload_id))
                except Exception:
                    # the original error matters more; the cleanup service aborts stale uploads
                    log.warning("multipart_abort_failed", key=key, upload_id=upload_id, exc_info=True)
            raise
        info = await self.stat(key)
        if info is None:
            raise Conflict(f"{key!r} was deleted as soon as it was written")
        return info

    async def put_file(self, key: str, path: Path, *, content_type: str = "application/octet-stream") -> ObjectInfo:
        """Upload a local file, read chunk by chunk, with the clean-up guarantees of put_stream."""
        validate_key(key)
        return await self.put_stream(key, file_chunks(Path(path), self._executor), content_type=content_type)

    def _part_size_of(self, part_number: int) -> int:
        return self._part_size << ((part_number - 1) // PARTS_PER_SIZE_STEP)

    async def _settle(self, in_flight: Future[str], parts: list[Part]) -> None:
        parts.append(Part(len(parts) + 1, await self._wrap(asyncio.wrap_future(in_flight))))

    def _put_small(self, key: str, body: bytes, content_type: str) -> None:
        # a part size of at least the body keeps minio to one plain PUT (by default it would
        # split anything over 5 MiB into a multipart upload of its own)
        self._client.put_object(
            self._bucket, key, io.BytesIO(body), len(body), content_type=content_type,
            part_size=max(MIN_PART_SIZE, len(body)),
        )  # fmt: skip

    def _abort_after(self, in_flight: Future[str] | None, key: str, upload_id: str) -> None:
        # a part still uploading could land after an abort and keep storage: let it settle first
        if in_flight is not None:
            wait_futures([in_flight])
        self._abort_sync(key, upload_id)

    def _abort_sync(self, key: str, upload_id: str) -> bool:
        try:
            self._client._abort_multipart_upload(self._bucket, key, upload_id)
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                return False
            raise
        return True

    # reading

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        """Download to a local file (written beside it, then renamed); NotFound if missing."""
        validate_key(key)
        info = await self.stat(key)
        if info is None:
            raise NotFound(f"no object {key!r}")
        await save_stream(self.open_read(key), Path(path), self._executor)
        return info

    def open_read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes [start, end] (end inclusive); NotFound if missing."""
        validate_key(key)
        validate_range(start, end)
        return self._read(key, start, end)

    async def _read(self, key: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        length = 0 if end is None else end - start + 1
        try:
            response = await self._run(self._client.get_object, self._bucket, key, offset=start, length=length)
        except InvalidInput:
            if start == 0:
                return  # S3 refuses any range of an empty object; the read is simply empty
            info = await self.stat(key)
            raise range_not_satisfiable(start, info.size if info else 0) from None
        try:
            while data := await self._run(response.read, CHUNK, decode_content=False):
                yield data
        finally:
            response.close()
            response.release_conn()

    async def stat(self, key: str) -> ObjectInfo | None:
        validate_key(key)
        try:
            obj = await self._run(self._client.stat_object, self._bucket, key)
        except NotFound:
            return None
        return ObjectInfo(
            key=key,
            size=obj.size or 0,
            modified=obj.last_modified,
            content_type=obj.content_type,
            etag=obj.etag,
        )

    async def local_path(self, key: str) -> Path | None:
        """None: objects live on the server; callers that need a file download one with get_file."""
        validate_key(key)
        return None

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, a page at a time, in the server's order
        (key order on AWS and MinIO; SeaweedFS goes folder by folder)."""
        validate_prefix(prefix)
        return self._list(prefix)

    async def _list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        listing = iter(self._client.list_objects(self._bucket, prefix=prefix or None, recursive=True))
        while batch := await self._run(lambda: list(islice(listing, 1000))):
            for obj in batch:
                if obj.is_dir or obj.object_name is None:
                    continue
                yield ObjectInfo(key=obj.object_name, size=obj.size or 0, modified=obj.last_modified, etag=obj.etag)

    # deleting

    async def delete(self, key: str) -> bool:
        """True when an object was removed (S3 deletes silently, so it is looked up first)."""
        validate_key(key)
        if await self.stat(key) is None:
            return False
        await self._run(self._client.remove_object, self._bucket, key)
        return True

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a folder-like prefix (ending in '/'), 1,000 per request."""
        validate_prefix(prefix, folder=True)
        count = 0
        batch: list[str] = []
        async for info in self.list(prefix):
            batch.append(info.key)
            if len(batch) == 1000:
                count += await self._run(self._remove_batch, batch)
                batch = []
        if batch:
            count += await self._run(self._remove_batch, batch)
        return count

    def _remove_batch(self, keys: builtins.list[str]) -> int:
        errors = list(self._client.remove_objects(self._bucket, [DeleteObject(key) for key in keys]))
        if errors:
            raise MediaCraftError(f"could not delete {len(errors)} objects: {errors[0].message}", code="storage_error")
        return len(keys)

    async def presigned_get(self, key: str, *, expires_seconds: int = 300, filename: str | None = None) -> str | None:
        """A URL to GET the object for `expires_seconds`; with `filename`, saved under that name."""
        validate_key(key)
        validate_expiry(expires_seconds)
        headers = {"response-content-disposition": content_disposition(filename)} if filename else None
        return await self._run(
            self._presigner.presigned_get_object,
            self._bucket,
            key,
            expires=timedelta(seconds=expires_seconds),
            response_headers=headers,
        )

    # incomplete uploads

    async def list_incomplete_uploads(self, prefix: str = "") -> builtins.list[MultipartInfo]:
        validate_prefix(prefix)
        return await self._run(self._uploads_sync, prefix)

    async def abort_incomplete_uploads(self, older_than: datetime, prefix: str = "") -> int:
        """Abort multipart uploads started before `older_than` (naive means UTC); returns how many."""
        validate_prefix(prefix)
        if older_than.tzinfo is None:
            older_than = older_than.replace(tzinfo=UTC)

        def abort() -> int:
            stale = [u for u in self._uploads_sync(prefix) if u.initiated is not None and u.initiated < older_than]
            return sum(self._abort_sync(u.key, u.upload_id) for u in stale)

        return await self._run(abort)

    def _uploads_sync(self, prefix: str) -> builtins.list[MultipartInfo]:
        uploads: list[MultipartInfo] = []
        key_marker = upload_id_marker = ""
        while True:
            query: dict[str, str | list[str] | tuple[str]] = {"uploads": "", "prefix": prefix, "max-uploads": "1000"}
            if key_marker:
                query.update({"key-marker": key_marker, "upload-id-marker": upload_id_marker})
            response = self._client._execute("GET", self._bucket, query_params=query)
            root = ElementTree.fromstring(response.data)
            page = [_upload_of(element) for element in root if _local(element.tag) == "Upload"]
            uploads.extend(page)
            if _child_text(root, "IsTruncated").lower() != "true" or not page:
                return uploads
            key_marker = _child_text(root, "NextKeyMarker") or page[-1].key
            upload_id_marker = _child_text(root, "NextUploadIdMarker") or page[-1].upload_id

    # every blocking call goes through here

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await self._wrap(loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs)))

    async def _wrap(self, future: asyncio.Future[T]) -> T:
        try:
            return await future
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise storage_error(exc) from exc


class _PartBuffer:
    """Chunks waiting to become a part, joined once when the part is cut (no growing buffer)."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        if chunk:
            self._chunks.append(bytes(chunk))
            self.size += len(chunk)

    def take(self, count: int) -> bytes:
        """The first `count` bytes, removed from the buffer."""
        taken: list[bytes] = []
        need = count
        while need and self._chunks:
            head = self._chunks[0]
            if len(head) <= need:
                taken.append(self._chunks.popleft())
                need -= len(head)
            else:
                taken.append(head[:need])
                self._chunks[0] = head[need:]
                need = 0
        self.size -= count - need
        return b"".join(taken)


def storage_error(exc: BaseException) -> MediaCraftError:
    """The project error for a failed S3 call: missing, refused, retryable, or plain failure."""
    if isinstance(exc, S3Error):
        status = exc.response.status if exc.response is not None else 0
        if exc.code in _MISSING_CODES:
            return NotFound(exc.message or exc.code)
        if exc.code in _AUTH_CODES:
            return MediaCraftError(f"object storage refused our credentials: {exc.code}", code="storage_access_denied")
        if exc.code == "InvalidRange":
            return InvalidInput("range not satisfiable", code="invalid_range")
        if exc.code == "NoSuchUpload":
            return Conflict("the multipart upload was aborted")
        if exc.code in ("SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError") or status >= 500:
            return RetryableError(f"object storage failed: {exc.code}", code="storage_unavailable")
        return MediaCraftError(f"object storage error: {exc.code}: {exc.message}", code="storage_error")
    if isinstance(exc, (ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError)):
        return RetryableError(f"object storage unreachable: {exc}", code="storage_unavailable")
    return MediaCraftError(f"object storage error: {exc}", code="storage_error")


def content_disposition(filename: str) -> str:
    """An `attachment` header value naming `filename`, safe for any characters it holds.

    Browsers take the UTF-8 `filename*`; the plain `filename` is an ASCII fallback without the
    characters (quotes, backslashes, controls, separators) that could break out of it.
    """
    name = "".join(c for c in os.path.basename(filename.replace("\\", "/")) if ord(c) >= 32 and ord(c) != 127)
    name = name.strip() or "download"
    fallback = "".join(c if c.isascii() and c not in '"\\;' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child_text(element: ElementTree.Element, name: str) -> str:
    for child in element:
        if _local(child.tag) == name:
            return child.text or ""
    return ""


def _upload_of(element: ElementTree.Element) -> MultipartInfo:
    initiated = _child_text(element, "Initiated")
    return MultipartInfo(
        key=_child_text(element, "Key"),
        upload_id=_child_text(element, "UploadId"),
        initiated=datetime.fromisoformat(initiated.replace("Z", "+00:00")) if initiated else None,
    )
