"""Contract tests for the object store port, run against every object store adapter.

An adapter's test module subclasses `ObjectStoreContract` and provides one fixture, `store_url`:
the URL that `make_object_store` builds the adapter from, naming a store no other test uses.
Checks go through the port only, so the same assertions hold for a directory and for S3; what
only one adapter can show (files on disk, multipart uploads, presigned URLs) lives in its module.

Sizes are chosen around the S3 adapter's 8 MiB part: 9 MiB and more means a multipart upload was
started, so "nothing left behind" has something to leave behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.adapters.factory import make_object_store
from mediacraft.shared.clock import utcnow
from mediacraft.shared.errors import Conflict, InvalidInput, NotFound
from mediacraft.shared.ports.objects import TooLarge
from tests.fixtures.waiting import eventually

KiB = 1024
MiB = 1024 * KiB
REPO = Path(__file__).resolve().parents[2]

BAD_KEYS = ["../x", "/etc/passwd", "a/../../b", "a\x00b", "a\\b", "", "a//b", "./a", "a/", "..", "a/\nb", "x" * 1025]
ODD_KEYS = [
    "users/ü/ファイル 1+x%41&<.mp4",
    "a b/c'd\"e.bin",
    "x/y~z=!@#$^()[]{},;.txt",
]


def pattern(size: int, seed: int = 1) -> bytes:
    """Reproducible bytes that no compression or deduplication can shortcut."""
    return random.Random(seed).randbytes(size)


async def stream(data: bytes, chunk: int = 64 * KiB) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


class Source:
    """An upload body that counts what was read from it and can fail or pause on cue."""

    def __init__(self, total: int, *, chunk: int = MiB, fail_after: int | None = None, pause_after: int | None = None):
        self.total, self.chunk, self.fail_after, self.pause_after = total, chunk, fail_after, pause_after
        self.sent = 0
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = pattern(self.chunk, seed=7)
        while self.sent < self.total:
            if self.fail_after is not None and self.sent >= self.fail_after:
                raise RuntimeError("client went away")
            if self.pause_after is not None and self.sent >= self.pause_after and not self.resume.is_set():
                self.paused.set()
                await self.resume.wait()
            piece = block[: min(self.chunk, self.total - self.sent)]
            self.sent += len(piece)
            yield piece


async def max_loop_lag(work: Awaitable[Any]) -> float:
    """The longest the event loop went unserved (beyond a 5 ms tick) while `work` ran."""
    loop = asyncio.get_running_loop()
    lags = [0.0]
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - before - 0.005)

    ticker = asyncio.create_task(tick())
    try:
        await work
    finally:
        done.set()
        await ticker
    return max(lags)


class ObjectStoreContract:
    """Behaviour every ObjectStore adapter must have."""

    @pytest.fixture
    async def store(self, store_url: str) -> Any:
        store = make_object_store(store_url)
        await store.start()
        yield store
        await store.close()

    async def assert_nothing_left(self, store: Any, key: str) -> None:
        assert await store.stat(key) is None
        assert [info.key async for info in store.list(key)] == []
        assert await store.list_incomplete_uploads() == []

    # round trips

    async def test_start_is_idempotent_and_ping_answers(self, store: Any) -> None:
        await store.start()
        assert await store.ping() is True

    async def test_put_stream_stat_read_round_trip(self, store: Any) -> None:
        data = pattern(300 * KiB)
        info = await store.put_stream("inbox/u1/clip.mp4", stream(data), content_type="video/mp4")
        assert (info.key, info.size) == ("inbox/u1/clip.mp4", len(data))

        stat = await store.stat("inbox/u1/clip.mp4")
        assert stat is not None
        assert (stat.size, stat.content_type) == (len(data), "video/mp4")
        assert stat.modified is not None and abs((utcnow() - stat.modified).total_seconds()) < 120
        assert stat.etag
        assert await read_all(store.open_read("inbox/u1/clip.mp4")) == data

    async def test_multipart_sized_stream_with_odd_chunks_round_trips(self, store: Any) -> None:
        data = pattern(20 * MiB + 12345, seed=2)
        info = await store.put_stream("big/odd.bin", stream(data, chunk=100_003))
        assert info.size == len(data)
        back = await read_all(store.open_read("big/odd.bin"))
        assert (len(back), hashlib.sha256(back).hexdigest()) == (len(data), hashlib.sha256(data).hexdigest())

    async def test_put_file_and_get_file_round_trip(self, store: Any, tmp_path: Path) -> None:
        source = tmp_path / "source.bin"
        source.write_bytes(pattern(9 * MiB + 7, seed=3))
        info = await store.put_file("results/t1/out.mp4", source, content_type="video/mp4")
        assert info.size == source.stat().st_size

        target = tmp_path / "down" / "copy.bin"
        got = await store.get_file("results/t1/out.mp4", target)
        assert got.size == source.stat().st_size
        assert target.read_bytes() == source.read_bytes()
        assert sorted(p.name for p in target.parent.iterdir()) == ["copy.bin"]  # no temp file left

    async def test_empty_object(self, store: Any, tmp_path: Path) -> None:
        info = await store.put_stream("empty", stream(b""))
        assert info.size == 0
        assert await read_all(store.open_read("empty")) == b""
        assert await read_all(store.open_read("empty", start=0, end=10)) == b""
        await store.get_file("empty", tmp_path / "empty")
        assert (tmp_path / "empty").read_bytes() == b""

    async def test_put_replaces_an_object(self, store: Any) -> None:
        await store.put_stream("k", stream(b"first version"), content_type="text/plain")
        await store.put_stream("k", stream(b"second"), content_type="application/json")
        assert await read_all(store.open_read("k")) == b"second"
        stat = await store.stat("k")
        assert stat is not None and (stat.size, stat.content_type) == (6, "application/json")

    @pytest.mark.parametrize("key", ODD_KEYS)
    async def test_keys_with_unusual_characters_round_trip(self, store: Any, key: str) -> None:
        await store.put_stream(key, stream(b"odd"))
        assert await read_all(store.open_read(key)) == b"odd"
        assert [info.key async for info in store.list(key.split("/")[0] + "/")] == [key]
        assert await store.delete(key) is True
        assert await store.stat(key) is None

    async def test_concurrent_uploads_do_not_mix(self, store: Any) -> None:
        first, second = pattern(10 * MiB, seed=4), pattern(10 * MiB, seed=5)
        await asyncio.gather(store.put_stream("c/1", stream(first)), store.put_stream("c/2", stream(second)))
        assert await read_all(store.open_read("c/1")) == first
        assert await read_all(store.open_read("c/2")) == second

    # local paths

    async def test_local_path_reads_the_committed_bytes_or_is_none(self, store: Any) -> None:
        data = pattern(300 * KiB, seed=9)
        await store.put_stream("lp/clip.mp4", stream(data))
        path = await store.local_path("lp/clip.mp4")
        if store.has_local_paths:
            assert path is not None and path.read_bytes() == data
        else:
            assert path is None
        assert await store.local_path("lp/missing.mp4") is None
        assert await store.local_path("lp") is None  # a folder of objects is not an object
        await store.delete("lp/clip.mp4")
        assert await store.local_path("lp/clip.mp4") is None

    async def test_an_upload_in_progress_has_no_local_path(self, store: Any) -> None:
        source = Source(12 * MiB, pause_after=9 * MiB)
        upload = asyncio.create_task(store.put_stream("lp/pending.bin", source))
        await asyncio.wait_for(source.paused.wait(), 30)
        try:
            assert await store.local_path("lp/pending.bin") is None
        finally:
            source.resume.set()
        await upload
        path = await store.local_path("lp/pending.bin")
        if store.has_local_paths:
            assert path is not None and path.stat().st_size == 12 * MiB
        else:
            assert path is None

    # ranges

    @pytest.mark.parametrize(
        ("start", "end"),
        [(0, 0), (0, 9), (5, None), (999, None), (3, 3), (990, 5000), (0, None), (100, 899)],
    )
    async def test_ranged_reads(self, store: Any, start: int, end: int | None) -> None:
        data = pattern(1000, seed=6)
        await store.put_stream("r", stream(data))
        expected = data[start : None if end is None else end + 1]
        assert await read_all(store.open_read("r", start=start, end=end)) == expected

    async def test_range_across_chunk_boundaries(self, store: Any) -> None:
        data = pattern(3 * MiB + 5, seed=8)
        await store.put_stream("r3", stream(data))
        start, end = MiB - 3, 2 * MiB + 2
        assert await read_all(store.open_read("r3", start=start, end=end)) == data[start : end + 1]

    @pytest.mark.parametrize(("start", "end"), [(1000, None), (5000, 6000), (-1, None), (10, 5)])
    async def test_unsatisfiable_or_malformed_ranges_are_refused(self, store: Any, start: int, end: int | None) -> None:
        await store.put_stream("r", stream(pattern(1000)))
        with pytest.raises(InvalidInput) as caught:
            await read_all(store.open_read("r", start=start, end=end))
        assert caught.value.code == "invalid_range"

    # missing objects and deletes

    async def test_missing_object(self, store: Any, tmp_path: Path) -> None:
        assert await store.stat("nope") is None
        assert await store.delete("nope") is False
        with pytest.raises(NotFound):
            await read_all(store.open_read("nope"))
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        with pytest.raises(NotFound):
            await store.get_file("nope", downloads / "nope")
        assert list(downloads.iterdir()) == []

    async def test_delete(self, store: Any) -> None:
        await store.put_stream("d/x", stream(b"x"))
        assert await store.delete("d/x") is True
        assert await store.delete("d/x") is False
        await self.assert_nothing_left(store, "d/x")
        # the name is free again, even for an object where its folder was
        await store.put_stream("d", stream(b"now a file"))
        assert await read_all(store.open_read("d")) == b"now a file"

    async def test_list_by_prefix(self, store: Any) -> None:
        keys = ["a/b/c", "a/bc", "a/c", "a-c", "b", "a/b/d/e"]
        for index, key in enumerate(keys):
            await store.put_stream(key, stream(b"x" * (index + 1)))
        listed = [info async for info in store.list()]
        assert sorted(info.key for info in listed) == sorted(keys)  # order is the server's (SeaweedFS: by folder)
        assert {info.key: info.size for info in listed}["a/c"] == 3
        assert sorted([info.key async for info in store.list("a/b")]) == ["a/b/c", "a/b/d/e", "a/bc"]
        assert sorted([info.key async for info in store.list("a/b/")]) == ["a/b/c", "a/b/d/e"]
        assert [info.key async for info in store.list("zzz/")] == []

    async def test_delete_prefix_removes_only_that_folder(self, store: Any) -> None:
        for key in ["t/1/in.mp4", "t/1/out/a.mp4", "t/10/in.mp4", "t/1x", "u/1/in.mp4"]:
            await store.put_stream(key, stream(b"x"))
        assert await store.delete_prefix("t/1/") == 2
        assert [info.key async for info in store.list()] == ["t/10/in.mp4", "t/1x", "u/1/in.mp4"]
        assert await store.delete_prefix("t/1/") == 0
        with pytest.raises(InvalidInput):
            await store.delete_prefix("t/1")  # not a folder: would also take t/10 and t/1x
        with pytest.raises(InvalidInput):
            await store.delete_prefix("")

    # keys that must never reach storage

    @pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
    async def test_unsafe_keys_are_refused_everywhere(self, store: Any, key: str, tmp_path: Path) -> None:
        source = tmp_path / "f"
        source.write_bytes(b"payload")
        calls = [
            lambda: store.put_stream(key, stream(b"payload")),
            lambda: store.put_file(key, source),
            lambda: store.get_file(key, tmp_path / "out"),
            lambda: store.stat(key),
            lambda: store.delete(key),
            lambda: read_all(store.open_read(key)),
            lambda: store.presigned_get(key),
            lambda: store.local_path(key),
        ]
        for call in calls:
            with pytest.raises(InvalidInput):
                await call()
        assert [info async for info in store.list()] == []
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize("prefix", ["../", "/", "/etc/", "a/../", "a\\b/"])
    async def test_unsafe_prefixes_are_refused(self, store: Any, prefix: str) -> None:
        with pytest.raises(InvalidInput):
            [info async for info in store.list(prefix)]
        with pytest.raises(InvalidInput):
            await store.delete_prefix(prefix)
        with pytest.raises(InvalidInput):
            await store.list_incomplete_uploads(prefix)

    # failed uploads leave nothing behind

    @pytest.mark.parametrize(("limit", "total"), [(1000, 2000), (10 * MiB, 12 * MiB), (10 * MiB, 200 * MiB)])
    async def test_too_large_leaves_nothing_and_stops_reading(self, store: Any, limit: int, total: int) -> None:
        source = Source(total, chunk=min(MiB, limit // 4))
        with pytest.raises(TooLarge):
            await store.put_stream("up/too-big", source, max_size=limit)
        assert source.sent <= limit + source.chunk  # it stopped at the limit, not at the end
        await self.assert_nothing_left(store, "up/too-big")

    async def test_exactly_max_size_is_accepted(self, store: Any) -> None:
        info = await store.put_stream("up/exact", Source(9 * MiB), max_size=9 * MiB)
        assert info.size == 9 * MiB

    @pytest.mark.parametrize("fail_after", [0, 100 * KiB, 9 * MiB, 17 * MiB])
    async def test_failing_source_leaves_nothing(self, store: Any, fail_after: int) -> None:
        with pytest.raises(RuntimeError, match="client went away"):
            await store.put_stream("up/broken", Source(20 * MiB, fail_after=fail_after))
        await self.assert_nothing_left(store, "up/broken")

    async def test_failed_replacement_keeps_the_old_object(self, store: Any) -> None:
        await store.put_stream("keep", stream(b"old bytes"))
        with pytest.raises(RuntimeError):
            await store.put_stream("keep", Source(12 * MiB, fail_after=9 * MiB))
        with pytest.raises(TooLarge):
            await store.put_stream("keep", Source(12 * MiB), max_size=10 * MiB)
        assert await read_all(store.open_read("keep")) == b"old bytes"
        assert await store.list_incomplete_uploads() == []

    async def test_cancelled_upload_leaves_nothing(self, store: Any) -> None:
        source = Source(20 * MiB, pause_after=9 * MiB)
        upload = asyncio.create_task(store.put_stream("up/cancelled", source))
        await asyncio.wait_for(source.paused.wait(), 30)
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
        await self.assert_nothing_left(store, "up/cancelled")

    # incomplete uploads

    async def test_abort_incomplete_uploads_older_than(self, store: Any) -> None:
        source = Source(12 * MiB, pause_after=9 * MiB)
        upload = asyncio.create_task(store.put_stream("inbox/u1/stale.mp4", source))
        await asyncio.wait_for(source.paused.wait(), 30)

        pending = await eventually(
            store.list_incomplete_uploads, timeout=15, interval=0.05, what="the incomplete upload to be listed"
        )
        assert [u.key for u in pending] == ["inbox/u1/stale.mp4"]
        assert pending[0].upload_id and pending[0].initiated is not None
        assert [u.key for u in await store.list_incomplete_uploads("inbox/")] == ["inbox/u1/stale.mp4"]
        assert await store.list_incomplete_uploads("other/") == []

        assert await store.abort_incomplete_uploads(utcnow() - timedelta(hours=1)) == 0
        assert await store.abort_incomplete_uploads(utcnow() + timedelta(minutes=1), prefix="other/") == 0
        assert await store.abort_incomplete_uploads(utcnow() + timedelta(minutes=1), prefix="inbox/") == 1

        source.resume.set()
        with pytest.raises(Conflict):
            await upload  # its upload is gone: it cannot complete
        await self.assert_nothing_left(store, "inbox/u1/stale.mp4")

    # the event loop stays free

    async def test_transfers_never_block_the_event_loop(self, store: Any, tmp_path: Path) -> None:
        async def transfers() -> None:
            await store.put_stream("lag/big", Source(32 * MiB))
            async for _ in store.open_read("lag/big"):
                pass
            await store.get_file("lag/big", tmp_path / "big")
            await store.delete("lag/big")

        lag = await max_loop_lag(transfers())
        assert lag < 0.3, f"event loop stalled for {lag:.3f} s"

    # constant memory

    @pytest.mark.slow
    async def test_200_mb_stream_up_and_down_in_constant_memory(self, store_url: str, store: Any) -> None:
        size = 200 * MiB
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.objects_memory_probe", store_url, str(size),
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 240)
        assert process.returncode == 0, err.decode()[-3000:]
        report = json.loads(out)
        assert report["read_bytes"] == report["file_bytes"] == size
        assert report["read_sha256"] == report["file_sha256"] == report["sent_sha256"]
        assert report["peak_rss_bytes"] < 100 * 1000 * 1000, report
        stat = await store.stat("memory/probe.bin")
        assert stat is not None and stat.size == size
