"""Backups of the SQLite store: a pass snapshots it into the object store when one is due, keeps
the newest few, and a restore into a fresh data directory brings back every task and user, whose
files the gateway serves again. A MongoDB store is left to mongodump."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mediacraft.cleanup import backup
from mediacraft.cleanup.service import CleanupService
from mediacraft.gateway.cookies import CookieSigner
from mediacraft.shared.adapters.factory import make_bus, make_object_store, make_store
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import Task, TaskStatus
from tests.integration.cleanup.world import HOUR, World, files_of, keys
from tests.integration.gateway.harness import TEST_COOKIE_KEY, ShiftClock, gateway_settings, serve_gateway

COMPLETED, FAILED, QUEUED, UPLOADED = TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.QUEUED, TaskStatus.UPLOADED


ALICE, BOB = uuid.uuid4().hex, uuid.uuid4().hex  # user ids the gateway's cookies accept


async def populate(world: World) -> list[Task]:
    for user in (ALICE, BOB):
        await world.user(user)
    return [
        await world.finished(COMPLETED, age=HOUR, user=ALICE),
        await world.finished(FAILED, age=2 * HOUR, user=BOB),
        await world.running(QUEUED, age=HOUR, user=BOB),
        await world.draft(UPLOADED, age=HOUR, user=ALICE),
    ]


def sqlite_only(store: Any) -> None:
    if backup.sqlite_store_path(f"sqlite:///{getattr(store, 'path', '')}") is None or not hasattr(store, "path"):
        pytest.skip("backups of a MongoDB store are mongodump's (deploy/k8s/components/mongo-backup)")


async def test_a_pass_takes_a_snapshot_when_one_is_due_and_keeps_the_newest(
    store: Any, objects: Any, world: World, clock: FakeClock, make_service: Callable[..., CleanupService]
) -> None:
    sqlite_only(store)
    await populate(world)
    service = make_service(backup_interval=timedelta(hours=6), backup_keep=2)

    await service.run_once()
    first = await backup.list_backups(objects)
    await service.run_once()  # the newest is not 6 h old yet
    assert await backup.list_backups(objects) == first
    assert len(first) == 1 and first[0].key.startswith("backups/store-") and first[0].size > 0

    for _ in range(3):
        await clock.advance(timedelta(hours=6).total_seconds())
        await service.run_once()
    kept = await backup.list_backups(objects)
    assert len(kept) == 2 and first[0].key not in {b.key for b in kept}
    assert service.metrics.registry.get_sample_value("mediacraft_cleanup_backups_total", {"outcome": "written"}) == 4
    assert service.metrics.registry.get_sample_value("mediacraft_cleanup_last_backup_timestamp_seconds")
    assert not any(k.startswith("backups/") for k in await keys(objects, "uploads/") | await keys(objects, "results/"))


async def test_backups_off_and_dry_runs_write_no_snapshot(
    store: Any, objects: Any, world: World, make_service: Callable[..., CleanupService]
) -> None:
    await populate(world)
    await make_service(backup_interval=timedelta(0)).run_once()
    await make_service(backup_interval=timedelta(hours=6)).run_once(dry_run=True)
    if not hasattr(store, "path"):
        await make_service(backup_interval=timedelta(hours=6)).run_once()  # MongoDB: never by cleanup
    assert await keys(objects, "backups/") == set()


async def test_a_restore_into_a_fresh_data_directory_brings_back_every_task_and_user_and_their_files(
    store: Any, objects: Any, s3_url: str, world: World, tmp_path: Path, make_service: Callable[..., CleanupService]
) -> None:
    sqlite_only(store)
    tasks = await populate(world)
    await make_service(backup_interval=timedelta(hours=6)).run_once()
    users = [await store.get_user(u) for u in (ALICE, BOB)]  # with the usage the pass measured
    await world.finished(COMPLETED, age=HOUR, user=ALICE)  # created after the backup: a restore loses it

    fresh = tmp_path / "fresh" / "mediacraft.db"
    done = await backup.restore(objects, fresh)
    assert (done.tasks, done.users, done.kept_previous) == (len(tasks), 2, None)

    restored = make_store(f"sqlite:///{fresh}")
    await restored.start()
    try:
        again = {t.task_id: t for t in await restored.list_by_status(list(TaskStatus), limit=1000)}
        assert {k: v.model_dump() for k, v in again.items()} == {t.task_id: t.model_dump() for t in tasks}
        assert [await restored.get_user(u) for u in (ALICE, BOB)] == users
    finally:
        await restored.close()

    # the gateway on the restored store serves the owner's result and inputs as before
    completed = next(t for t in tasks if t.status is COMPLETED)
    assert completed.result is not None
    async with serve_gateway(
        gateway_settings(tmp_path),
        store=make_store(f"sqlite:///{fresh}"),
        objects=make_object_store(s3_url),
        bus=make_bus("memory://"),
        clock=ShiftClock(),
    ) as gw:
        cookie = CookieSigner([TEST_COOKIE_KEY]).sign(ALICE, gw.clock.now())
        async with gw.client(cookies={"mc_uid": cookie}) as client:
            status = await client.get(f"/api/tasks/{completed.task_id}/status")
            assert status.status_code == 200, status.text
            answer = await client.get(f"/api/tasks/{completed.task_id}/download")
            assert answer.status_code == 200, answer.text
            assert len(answer.content) == completed.result.size
    for task in tasks:
        for key in files_of(task):
            assert await objects.stat(key) is not None, key


async def test_a_restore_refuses_to_overwrite_a_store_unless_forced_and_keeps_the_previous_file(
    store: Any, objects: Any, world: World, tmp_path: Path, make_service: Callable[..., CleanupService]
) -> None:
    sqlite_only(store)
    await populate(world)
    await make_service(backup_interval=timedelta(hours=6)).run_once()
    target = tmp_path / "other" / "mediacraft.db"
    target.parent.mkdir()
    target.write_bytes(b"the store in use")
    (target.parent / "mediacraft.db-wal").write_bytes(b"its log")

    with pytest.raises(backup.BackupError, match="--force"):
        await backup.restore(objects, target)
    assert target.read_bytes() == b"the store in use"
    with pytest.raises(backup.BackupError, match="no backup named"):
        await backup.restore(objects, target, key="store-19990101T000000Z.db", force=True)

    done = await backup.restore(objects, target, force=True)
    assert done.kept_previous is not None and done.kept_previous.read_bytes() == b"the store in use"
    assert Path(f"{done.kept_previous}-wal").read_bytes() == b"its log"
    assert not (target.parent / "mediacraft.db-wal").exists()
    assert backup.check(target) == (done.tasks, done.users)


async def test_a_snapshot_that_is_not_a_store_is_refused(objects: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not a database at all" * 100)
    await objects.put_file("backups/store-20260101T000000Z.db", bogus)
    with pytest.raises(backup.BackupError, match="not a SQLite store snapshot"):
        await backup.restore(objects, tmp_path / "fresh" / "mediacraft.db")
    assert not (tmp_path / "fresh" / "mediacraft.db").exists()


def test_the_command_restores_the_newest_snapshot(tmp_path: Path) -> None:
    """`mediacraft-backup now`, `list` and `restore` over a local object store (no S3 needed)."""
    source = tmp_path / "var" / "mediacraft.db"
    source.parent.mkdir()
    db = sqlite3.connect(source)
    db.executescript("CREATE TABLE tasks (task_id TEXT); CREATE TABLE users (user_id TEXT);")
    db.executemany("INSERT INTO users VALUES (?)", [("alice",), ("bob",)])
    db.commit()
    db.close()
    env = {
        **os.environ,
        "MEDIACRAFT_STORE_URL": f"sqlite:///{source}",
        "MEDIACRAFT_OBJECT_STORE_URL": f"file://{tmp_path / 'objects'}",
    }

    def command(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mediacraft.cleanup.backup", *argv],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert command("now").returncode == 0
    listed = command("list")
    assert listed.returncode == 0 and listed.stdout.count("backups/store-") == 1
    refused = command("restore")  # the store file exists
    assert refused.returncode == 1 and "--force" in refused.stderr
    restored = command("restore", "--to", str(tmp_path / "fresh.db"))
    assert restored.returncode == 0, restored.stderr
    assert "0 tasks, 2 users" in restored.stdout
    assert backup.check(tmp_path / "fresh.db") == (0, 2)
