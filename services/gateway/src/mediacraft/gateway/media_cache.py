"""Local files of uploaded media for ffmpeg, so that a frame preview of a large upload answers at once.

With an object store on this machine (`has_local_paths`, the local directory of the single-process
mode) the object's own file is that local file: `fetch` returns it and nothing is copied here, so
this directory then holds only temp files (preview frames).

With a remote store (S3) this is a bounded directory of copies. The upload is teed to a local
file while it streams into the object store (ffprobe needs a local file anyway); once accepted,
that file is adopted here under a name derived from its object key. A preview on another replica,
or after eviction, fetches the object once. The directory is bounded in bytes and evicts the least
recently used copies first.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
from pathlib import Path

from mediacraft.shared.errors import NotFound
from mediacraft.shared.ports.objects import ObjectStore


class MediaCache:
    """A bounded directory of local copies keyed by object key."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._media = self.root / "media"
        self._tmp = self.root / "tmp"
        self._fetching: dict[str, asyncio.Lock] = {}
        self._in_use: dict[str, int] = {}

    def start(self) -> None:
        """Create the folders and drop temp files a crashed process left behind."""
        self._media.mkdir(parents=True, exist_ok=True)
        if self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def temp_path(self) -> Path:
        """A fresh path for a file being written (never inside the cache proper)."""
        return self._tmp / uuid.uuid4().hex

    def path_of(self, key: str) -> Path:
        return self._media / hashlib.sha256(key.encode()).hexdigest()[:40]

    def adopt(self, key: str, path: Path) -> None:
        """Move a finished local file into the cache as the copy of `key` (or drop it if too big)."""
        size = path.stat().st_size
        if size > self.max_bytes:
            path.unlink(missing_ok=True)
            return
        os.replace(path, self.path_of(key))
        self._evict(keep=self.path_of(key))

    def lookup(self, key: str) -> Path | None:
        """The local copy of `key`, marked as recently used, or None."""
        path = self.path_of(key)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    async def fetch(self, key: str, objects: ObjectStore) -> Path:
        """A local file of `key`: the store's own, else a copy downloaded once (NotFound propagates)."""
        if objects.has_local_paths:
            path = await objects.local_path(key)
            if path is None:
                raise NotFound(f"no object {key!r}")
            return path
        found = self.lookup(key)
        if found is not None:
            return found
        lock = self._fetching.setdefault(key, asyncio.Lock())
        async with lock:
            found = self.lookup(key)
            if found is not None:
                return found
            tmp = self.temp_path()
            try:
                await objects.get_file(key, tmp)
                await asyncio.to_thread(self.adopt, key, tmp)
            finally:
                tmp.unlink(missing_ok=True)
                self._fetching.pop(key, None)
        found = self.lookup(key)
        if found is None:  # larger than the whole cache, so adopt() dropped it
            raise FileNotFoundError(f"{key} is larger than the media cache")
        return found

    def hold(self, key: str) -> _Hold:
        """Protect `key`'s copy from eviction while it is being read."""
        return _Hold(self, key)

    def discard(self, key: str) -> None:
        """Forget the copy of `key` (its object was deleted)."""
        self.path_of(key).unlink(missing_ok=True)

    def _evict(self, *, keep: Path) -> None:
        entries = []
        total = 0
        with os.scandir(self._media) as it:
            for entry in it:
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                total += st.st_size
                entries.append((st.st_mtime, entry.path, st.st_size))
        protected = {str(self.path_of(k)) for k in self._in_use} | {str(keep)}
        for _mtime, path, size in sorted(entries):
            if total <= self.max_bytes:
                break
            if path in protected:
                continue
            Path(path).unlink(missing_ok=True)
            total -= size


class _Hold:
    def __init__(self, cache: MediaCache, key: str) -> None:
        self._cache, self._key = cache, key

    def __enter__(self) -> None:
        self._cache._in_use[self._key] = self._cache._in_use.get(self._key, 0) + 1

    def __exit__(self, *exc: object) -> None:
        left = self._cache._in_use[self._key] - 1
        if left:
            self._cache._in_use[self._key] = left
        else:
            del self._cache._in_use[self._key]
