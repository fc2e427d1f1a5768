"""Object store in a local directory: the embedded adapter of laptops and the standalone process.

Layout under the root:

    objects/<key>    the bytes of each object
    meta/<key>       a small JSON document per object (its content type)
    uploads/<id>/    one folder per upload in progress: `key` (the target key) and `data`

An upload writes `uploads/<id>/data`, fsyncs it and renames it over `objects/<key>`. Both live on
the same file system, so the rename is atomic: a reader sees the old bytes or the new ones, never
a mix. A folder left in `uploads/` is an incomplete upload (a crash, or a stream that never ended),
listed and aborted by age as S3 multipart uploads are.

A key becomes a path only after `validate_key` and a check that the resolved path (symlinks
followed) stays inside its tree; objects are opened with O_NOFOLLOW besides. Unlike S3, a key
cannot be both an object and the folder of others ("a" and "a/b"): such a put raises Conflict.

`local_path` hands out the file of a committed object, so that a caller on this machine (ffprobe
on an upload, a frame preview) reads it in place instead of keeping a second copy; the file is the
store's, to read only.

Every file operation runs in the store's own small thread pool, one chunk at a time, so the event
loop never waits on the disk and a cancelled upload stops between two chunks. An upload keeps one
chunk's write in flight while the next chunk arrives, and writes a large chunk as it is, uncopied
(the port's callers never change a chunk once yielded).
"""

from __future__ import annotations

import asyncio
import builtins
import errno
import json
import os
import shutil
import stat as stat_mod
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from mediacraft.shared.adapters.objects import (
    file_chunks,
    finish_despite_cancel,
    fsync_dir,
    range_not_satisfiable,
    save_stream,
    validate_expiry,
    validate_prefix,
    validate_range,
)
from mediacraft.shared.errors import Conflict, InvalidInput, NotFound
from mediacraft.shared.ports.objects import CHUNK, MultipartInfo, ObjectInfo, TooLarge, validate_key

T = TypeVar("T")

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass
class _Upload:
    upload_id: str
    folder: Path
    file: BinaryIO


class LocalObjectStore:
    """ObjectStore over a directory tree."""

    has_local_paths = True

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True, max_threads: int = 8) -> None:
        self._root = Path(root).absolute()
        self._fsync = fsync
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="local-objects")

    @property
    def root(self) -> Path:
        return self._root

    async def start(self) -> None:
        """Create the root and its three trees if missing."""
        await self._run(self._start_sync)

    async def close(self) -> None:
        """Stop taking work; chunks already handed to a thread finish on their own."""
        self._executor.shutdown(wait=False)

    async def ping(self) -> bool:
        """True when the objects tree exists and is writable."""
        try:
            return await self._run(lambda: os.access(self._root / "objects", os.W_OK | os.X_OK))
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
        """Store a stream of unknown length; over `max_size` raise TooLarge and keep nothing."""
        validate_key(key)
        upload = await self._run(self._begin, key)
        loop = asyncio.get_running_loop()
        in_flight: Future[int] | None = None
        try:
            size = 0
            buffer = bytearray()
            async for chunk in chunks:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise TooLarge(f"upload is larger than the limit of {max_size} bytes")
                if not buffer and len(chunk) >= CHUNK:
                    data: bytes | bytearray = chunk  # large enough as it is: written without a copy
                else:
                    buffer += chunk
                    if len(buffer) < CHUNK:
                        continue
                    data, buffer = buffer, bytearray()
                # one write in flight while the next chunk arrives; writes stay in order
                if in_flight is not None:
                    await asyncio.wrap_future(in_flight, loop=loop)
                in_flight = self._executor.submit(upload.file.write, data)
            if in_flight is not None:
                await asyncio.wrap_future(in_flight, loop=loop)
                in_flight = None
            if buffer:
                await self._run(upload.file.write, buffer)
            return await self._run(self._commit, upload, key, content_type)
        except BaseException:
            await finish_despite_cancel(self._run(self._discard, upload, in_flight))
            raise

    async def put_file(self, key: str, path: Path, *, content_type: str = "application/octet-stream") -> ObjectInfo:
        """Copy a local file in, chunk by chunk, with the atomicity of put_stream."""
        validate_key(key)
        return await self.put_stream(key, file_chunks(Path(path), self._executor), content_type=content_type)

    # reading

    async def get_file(self, key: str, path: Path) -> ObjectInfo:
        """Copy an object to a local file (written beside it, then renamed); NotFound if missing."""
        validate_key(key)
        info = await self.stat(key)
        if info is None:
            raise NotFound(f"no object {key!r}")
        await save_stream(self.open_read(key), Path(path), self._executor, fsync=self._fsync)
        return info

    def open_read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes [start, end] (end inclusive); NotFound if missing."""
        validate_key(key)
        validate_range(start, end)
        return self._read(key, start, end)

    async def _read(self, key: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        fd, size = await self._run(self._open, key)
        try:
            if start > 0 and start >= size:
                raise range_not_satisfiable(start, size)
            last = size - 1 if end is None else min(end, size - 1)
            offset = start
            while offset <= last:
                # pread on the descriptor opened first: a concurrent replace of the key does not
                # mix two versions into one read
                data = await self._run(os.pread, fd, min(CHUNK, last - offset + 1), offset)
                if not data:
                    break
                offset += len(data)
                yield data
        finally:
            os.close(fd)

    async def stat(self, key: str) -> ObjectInfo | None:
        validate_key(key)
        return await self._run(self._stat_sync, key)

    async def local_path(self, key: str) -> Path | None:
        """The file of the committed object `key` (symlinks resolved, inside the root), or None if missing."""
        validate_key(key)
        return await self._run(self._local_path_sync, key)

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order."""
        validate_prefix(prefix)
        return self._list(prefix)

    async def _list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        for info in await self._run(self._list_sync, prefix):
            yield info

    # deleting

    async def delete(self, key: str) -> bool:
        """True when an object was removed."""
        validate_key(key)
        return await self._run(self._delete_sync, key)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a folder-like prefix (ending in '/'); returns the count."""
        validate_prefix(prefix, folder=True)
        return await self._run(lambda: sum(self._delete_sync(info.key) for info in self._list_sync(prefix)))

    async def presigned_get(self, key: str, *, expires_seconds: int = 300, filename: str | None = None) -> str | None:
        """None: a directory has no URL of its own; the gateway streams the object instead."""
        validate_key(key)
        validate_expiry(expires_seconds)
        return None

    # incomplete uploads

    async def list_incomplete_uploads(self, prefix: str = "") -> builtins.list[MultipartInfo]:
        validate_prefix(prefix)
        return await self._run(self._uploads_sync, prefix)

    async def abort_incomplete_uploads(self, older_than: datetime, prefix: str = "") -> int:
        """Remove upload folders started before `older_than` (naive means UTC); returns how many."""
        validate_prefix(prefix)
        if older_than.tzinfo is None:
            older_than = older_than.replace(tzinfo=UTC)

        def abort() -> int:
            count = 0
            for upload in self._uploads_sync(prefix):
                if upload.initiated is not None and upload.initiated < older_than:
                    shutil.rmtree(self._root / "uploads" / upload.upload_id, ignore_errors=True)
                    count += 1
            return count

        return await self._run(abort)

    # blocking parts, each run in the pool

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise InvalidInput("object key has a segment too long for a file name", code="invalid_key") from exc
            raise

    def _start_sync(self) -> None:
        for tree in ("objects", "meta", "uploads"):
            (self._root / tree).mkdir(parents=True, exist_ok=True)

    def _inside(self, tree: str, key: str) -> Path:
        """The path of `key` in `tree`, refused if it would resolve (symlinks followed) outside it."""
        base = (self._root / tree).resolve()
        path = (base / key).resolve()
        if path == base or not path.is_relative_to(base):
            raise InvalidInput("object key leads outside the store", code="invalid_key")
        return path

    def _begin(self, key: str) -> _Upload:
        self._inside("objects", key)  # refuse an escaping key before writing anything
        upload_id = uuid.uuid4().hex
        folder = self._root / "uploads" / upload_id
        folder.mkdir(parents=True)
        (folder / "key").write_text(key, encoding="utf-8")
        return _Upload(upload_id, folder, open(folder / "data", "wb"))

    def _commit(self, upload: _Upload, key: str, content_type: str) -> ObjectInfo:
        upload.file.flush()
        if self._fsync:
            os.fsync(upload.file.fileno())
        upload.file.close()
        meta = upload.folder / "meta"
        try:
            meta.write_text(json.dumps({"content_type": content_type}), encoding="utf-8")
        except FileNotFoundError as exc:
            raise Conflict(f"the upload of {key!r} was aborted") from exc
        # the data rename is the commit point; the meta document follows it
        self._replace_into(upload.folder / "data", self._inside("objects", key), key)
        self._replace_into(meta, self._inside("meta", key), key)
        shutil.rmtree(upload.folder, ignore_errors=True)
        info = self._stat_sync(key)
        if info is None:
            raise Conflict(f"{key!r} was deleted while it was being written")
        return info

    def _replace_into(self, source: Path, target: Path, key: str) -> None:
        for _ in range(3):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
                break
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                raise Conflict(f"{key!r} clashes with an object or folder of the same name") from exc
            except FileNotFoundError as exc:
                if not source.exists():
                    raise Conflict(f"the upload of {key!r} was aborted") from exc
                # a concurrent delete pruned the now-empty parent folder: make it again
        else:
            raise Conflict(f"{key!r} kept losing its folder to concurrent deletes")
        if self._fsync:
            fsync_dir(target.parent)

    def _discard(self, upload: _Upload, in_flight: Future[int] | None = None) -> None:
        if in_flight is not None:
            wait_futures([in_flight])  # a write not started yet would otherwise run after the close
        upload.file.close()  # waits for a write still running in another thread
        shutil.rmtree(upload.folder, ignore_errors=True)

    def _open(self, key: str) -> tuple[int, int]:
        try:
            fd = os.open(self._inside("objects", key), _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"no object {key!r}") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotFound(f"no object {key!r}") from exc
            raise
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            os.close(fd)
            raise NotFound(f"no object {key!r}")
        return fd, st.st_size

    def _stat_sync(self, key: str) -> ObjectInfo | None:
        try:
            st = os.lstat(self._inside("objects", key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        return self._info(key, st, self._content_type(key))

    def _local_path_sync(self, key: str) -> Path | None:
        path = self._inside("objects", key)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return path if stat_mod.S_ISREG(st.st_mode) else None

    def _content_type(self, key: str) -> str | None:
        try:
            meta = json.loads(self._inside("meta", key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        content_type = meta.get("content_type") if isinstance(meta, dict) else None
        return content_type if isinstance(content_type, str) else None

    @staticmethod
    def _info(key: str, st: os.stat_result, content_type: str | None) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            content_type=content_type,
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        )

    def _list_sync(self, prefix: str) -> builtins.list[ObjectInfo]:
        base = (self._root / "objects").resolve()
        folder = prefix.rpartition("/")[0]
        top = self._inside("objects", folder) if folder else base
        found = []
        for dirpath, dirnames, filenames in os.walk(top):
            here = Path(dirpath).relative_to(base).as_posix()
            here = "" if here == "." else here + "/"
            # descend only into folders that can hold keys with the prefix
            dirnames[:] = [
                d for d in dirnames if (here + d + "/").startswith(prefix) or prefix.startswith(here + d + "/")
            ]
            for name in filenames:
                key = here + name
                if not key.startswith(prefix):
                    continue
                st = os.lstat(os.path.join(dirpath, name))
                if stat_mod.S_ISREG(st.st_mode):
                    found.append(self._info(key, st, None))
        found.sort(key=lambda info: info.key)
        return found

    def _delete_sync(self, key: str) -> bool:
        path = self._inside("objects", key)
        try:
            if not stat_mod.S_ISREG(os.lstat(path).st_mode):
                return False
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        meta = self._inside("meta", key)
        meta.unlink(missing_ok=True)
        self._prune(path.parent, "objects")
        self._prune(meta.parent, "meta")
        return True

    def _prune(self, folder: Path, tree: str) -> None:
        """Remove folders left empty, up to the tree's root, so the key names can be files again."""
        base = (self._root / tree).resolve()
        while folder != base and folder.is_relative_to(base):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _uploads_sync(self, prefix: str) -> builtins.list[MultipartInfo]:
        uploads = []
        try:
            entries = list(os.scandir(self._root / "uploads"))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            folder = Path(entry.path)
            try:
                key = (folder / "key").read_text(encoding="utf-8")
                started = (folder / "key").stat().st_mtime
            except OSError:
                # a crash between making the folder and naming its key: the folder's age will do
                key = ""
                try:
                    started = folder.stat().st_mtime
                except OSError:
                    continue
            if key.startswith(prefix):
                uploads.append(MultipartInfo(key, entry.name, datetime.fromtimestamp(started, UTC)))
        uploads.sort(key=lambda upload: (upload.key, upload.initiated or datetime.min.replace(tzinfo=UTC)))
        return uploads
