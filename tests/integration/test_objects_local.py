"""The object store contract against a local directory, plus what only the file system shows:
nothing is ever written outside the root, writes are atomic, and crashed uploads age out."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.adapters.factory import make_object_store
from mediacraft.shared.adapters.objects.local import LocalObjectStore
from mediacraft.shared.clock import utcnow
from mediacraft.shared.errors import Conflict, InvalidInput
from mediacraft.shared.ports.objects import TooLarge
from tests.contracts.objects import BAD_KEYS, REPO, MiB, ObjectStoreContract, Source, read_all, stream


class TestLocalObjectStore(ObjectStoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path / 'objects'}"


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = make_object_store(f"file://{tmp_path / 'root'}")
    assert isinstance(store, LocalObjectStore)
    await store.start()
    yield store
    await store.close()


def tree(path: Path) -> dict[str, bytes | None]:
    """Every entry under `path` (symlinks not followed): file contents, None for the rest."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            is_file = full.is_file() and not full.is_symlink()
            found[str(full.relative_to(path))] = full.read_bytes() if is_file else None
    return found


def outside_root(tmp_path: Path) -> dict[str, bytes | None]:
    return {name: data for name, data in tree(tmp_path).items() if not name.startswith("root")}


async def test_unsafe_keys_write_nothing_anywhere(store: Any, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"do not touch")
    before = outside_root(tmp_path)
    for key in [*BAD_KEYS, "../outside/secret", "root/../../outside/secret"]:
        with pytest.raises(InvalidInput):
            await store.put_stream(key, stream(b"overwritten!"))
        with pytest.raises(InvalidInput):
            await store.delete(key)
    assert outside_root(tmp_path) == before
    assert tree(store.root / "objects") == {}
    assert tree(store.root / "uploads") == {}


async def test_symlinks_cannot_lead_out_of_the_root(store: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not touch")
    (store.root / "objects" / "escape").symlink_to(outside, target_is_directory=True)
    (store.root / "objects" / "leak").symlink_to(outside / "secret")
    before = outside_root(tmp_path)

    with pytest.raises(InvalidInput):
        await store.put_stream("escape/new", stream(b"x"))
    with pytest.raises(InvalidInput):
        await store.put_stream("escape/secret", stream(b"overwritten!"))
    with pytest.raises(InvalidInput):
        await read_all(store.open_read("escape/secret"))
    with pytest.raises(InvalidInput):
        await read_all(store.open_read("leak"))
    with pytest.raises(InvalidInput):
        await store.delete("escape/secret")
    with pytest.raises(InvalidInput):
        [info async for info in store.list("escape/")]
    for key in ("escape/secret", "leak"):
        with pytest.raises(InvalidInput):
            await store.local_path(key)  # the path of a file outside the root is never handed out
    assert [info.key async for info in store.list()] == []  # symlinks are not objects
    assert outside_root(tmp_path) == before


async def test_a_symlink_that_stays_inside_is_followed(store: Any) -> None:
    await store.put_stream("real/clip", stream(b"bytes"))
    (store.root / "objects" / "alias").symlink_to(store.root / "objects" / "real", target_is_directory=True)
    assert await read_all(store.open_read("alias/clip")) == b"bytes"


async def test_local_path_is_the_object_file_itself(store: Any) -> None:
    assert store.has_local_paths is True
    info = await store.put_stream("users/u1/clip.mp4", stream(b"the only copy"))
    path = await store.local_path("users/u1/clip.mp4")
    assert path == (store.root / "objects" / "users" / "u1" / "clip.mp4").resolve()
    assert path.read_bytes() == b"the only copy" and path.stat().st_size == info.size
    (store.root / "objects" / "alias").symlink_to(store.root / "objects" / "users", target_is_directory=True)
    assert await store.local_path("alias/u1/clip.mp4") == path  # resolved, so it names the real file


async def test_readers_never_see_a_partial_write(store: Any) -> None:
    await store.put_stream("clip", stream(b"old version"))
    source = Source(3 * MiB, pause_after=2 * MiB)
    upload = asyncio.create_task(store.put_stream("clip", source))
    await asyncio.wait_for(source.paused.wait(), 10)

    # the bytes so far sit in the upload's own folder; the key still holds the old version
    assert await read_all(store.open_read("clip")) == b"old version"
    (folder,) = (store.root / "uploads").iterdir()
    assert (folder / "key").read_text() == "clip"

    source.resume.set()
    info = await upload
    assert info.size == 3 * MiB
    assert (store.root / "objects" / "clip").stat().st_size == 3 * MiB
    assert tree(store.root / "uploads") == {}


@pytest.mark.parametrize("failure", ["too large", "source fails"])
async def test_failed_uploads_leave_no_file(store: Any, failure: str) -> None:
    with pytest.raises((TooLarge, RuntimeError)):
        if failure == "too large":
            await store.put_stream("x/y", Source(5 * MiB), max_size=3 * MiB)
        else:
            await store.put_stream("x/y", Source(5 * MiB, fail_after=2 * MiB))
    assert tree(store.root / "uploads") == {}
    assert tree(store.root / "objects") == {}


async def test_crashed_uploads_age_out(store: Any) -> None:
    now = time.time()

    def leftover(name: str, key: str | None, age: timedelta) -> None:
        folder = store.root / "uploads" / name
        folder.mkdir()
        (folder / "data").write_bytes(b"partial")
        stamped = folder / "key" if key is not None else folder
        if key is not None:
            stamped.write_text(key)
        os.utime(stamped, (now - age.total_seconds(), now - age.total_seconds()))

    leftover("a" * 32, "inbox/u1/old.mp4", timedelta(days=2))
    leftover("b" * 32, "inbox/u2/recent.mp4", timedelta(hours=1))
    leftover("c" * 32, None, timedelta(days=3))  # crashed before it named its key

    listed = await store.list_incomplete_uploads()
    assert sorted((u.key, u.upload_id) for u in listed) == [
        ("", "c" * 32),
        ("inbox/u1/old.mp4", "a" * 32),
        ("inbox/u2/recent.mp4", "b" * 32),
    ]
    assert await store.abort_incomplete_uploads(utcnow() - timedelta(days=1)) == 2
    assert [u.key for u in await store.list_incomplete_uploads()] == ["inbox/u2/recent.mp4"]
    assert sorted(p.name for p in (store.root / "uploads").iterdir()) == ["b" * 32]


async def test_a_key_cannot_be_both_object_and_folder(store: Any) -> None:
    await store.put_stream("a", stream(b"file"))
    with pytest.raises(Conflict):
        await store.put_stream("a/b", stream(b"child"))
    await store.put_stream("c/d", stream(b"child"))
    with pytest.raises(Conflict):
        await store.put_stream("c", stream(b"file"))
    assert [info.key async for info in store.list()] == ["a", "c/d"]
    assert tree(store.root / "uploads") == {}


async def test_presigned_get_is_none_but_checks_its_arguments(store: Any) -> None:
    await store.put_stream("k", stream(b"x"))
    assert await store.presigned_get("k", expires_seconds=60, filename="a.mp4") is None
    with pytest.raises(InvalidInput):
        await store.presigned_get("k", expires_seconds=0)


async def test_objects_survive_a_new_store_on_the_same_directory(store: Any) -> None:
    await store.put_stream("kept/clip.mp4", stream(b"durable"), content_type="video/mp4")
    await store.close()
    again = LocalObjectStore(store.root)
    await again.start()
    info = await again.stat("kept/clip.mp4")
    assert info is not None and (info.size, info.content_type) == (7, "video/mp4")
    assert await read_all(again.open_read("kept/clip.mp4")) == b"durable"
    await again.close()


def test_factory_maps_file_urls_to_directories(tmp_path: Path) -> None:
    first, second = make_object_store(f"file://{tmp_path}/x"), make_object_store("file:///./var/objects")
    assert isinstance(first, LocalObjectStore) and isinstance(second, LocalObjectStore)
    assert first.root == tmp_path / "x"
    assert second.root == Path("var/objects").absolute()


async def test_memory_probe_sees_a_file_held_in_memory() -> None:
    """The meter the 200 MB tests trust: a child that holds 150 MB must report more than that."""
    code = "from tests.integration.objects_memory_probe import peak_rss_bytes as p; x = b'x' * 150_000_000; print(p())"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert 150_000_000 < int(out) < 400_000_000
