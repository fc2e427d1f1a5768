"""Backups of the SQLite store: online snapshots kept in the object store, and their restore.

The store and its users are the product's memory; the files they name already live in the object
store. Cleanup takes a snapshot with SQLite's online backup API (consistent while every service
keeps writing), checks it, and uploads it as `backups/store-<time>.db`, keeping the newest
`MEDIACRAFT_BACKUP_KEEP`. A pass takes one when the newest is older than
`MEDIACRAFT_BACKUP_INTERVAL` (0 turns backups off). MongoDB is backed up with `mongodump`
(deploy/k8s/components/mongo-backup), not here.

`mediacraft-backup now | list | restore [--key KEY] [--to PATH] [--force]` (also
`python -m mediacraft.cleanup.backup`): restore downloads a snapshot (the newest by default),
checks it, and puts it in place of the store file, which must not be in use: stop the services
first. What a restore loses, and how the scheduler treats what it brings back: docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mediacraft.shared import eventloop
from mediacraft.shared.adapters.factory import make_object_store, sqlite_path
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.errors import NotFound
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.object_keys import BACKUPS, backup_key
from mediacraft.shared.ports.objects import ObjectInfo, ObjectStore
from mediacraft.shared.settings import BaseServiceSettings

log = get_logger("mediacraft.cleanup.backup")

PREFIX = f"{BACKUPS}/"
REQUIRED_TABLES = frozenset({"tasks", "users"})


class BackupError(Exception):
    """A snapshot that cannot be taken, found or trusted; the message says which and why."""


@dataclass(frozen=True)
class Restored:
    key: str
    path: Path
    tasks: int
    users: int
    kept_previous: Path | None


def sqlite_store_path(store_url: str) -> Path | None:
    """The store's file when the store is SQLite on disk; None for MongoDB or an in-memory database."""
    if not store_url.startswith("sqlite:"):
        return None
    path = sqlite_path(store_url)
    return None if path in ("", ":memory:") or path.startswith("file:") else Path(path)


def snapshot(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API), checked; blocking."""
    if not source.exists():
        raise BackupError(f"no store file at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no WAL beside it
        finally:
            dst.close()
    finally:
        src.close()
    check(dest)


def check(path: Path) -> tuple[int, int]:
    """(tasks, users) of a snapshot after an integrity check; BackupError when it is not one. Blocking."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            (verdict,) = db.execute("PRAGMA integrity_check").fetchone()
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if verdict != "ok" or not tables >= REQUIRED_TABLES:
                raise BackupError(f"{path.name} is not a sound store snapshot ({verdict}; tables {sorted(tables)})")
            (tasks,) = db.execute("SELECT count(*) FROM tasks").fetchone()
            (users,) = db.execute("SELECT count(*) FROM users").fetchone()
            return int(tasks), int(users)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path.name} is not a SQLite store snapshot: {exc}") from exc


async def list_backups(objects: ObjectStore) -> list[ObjectInfo]:
    """Every snapshot in the object store, oldest first."""
    found = [obj async for obj in objects.list(PREFIX) if obj.key.endswith(".db")]
    return sorted(found, key=lambda obj: obj.key)


async def back_up(store_file: Path, objects: ObjectStore, *, clock: Clock, keep: int) -> ObjectInfo:
    """Take a snapshot now, upload it, and remove all but the newest `keep`; returns the new one."""
    key = backup_key(clock.now())
    with tempfile.TemporaryDirectory(prefix="mc-backup-", dir=store_file.parent) as tmp:
        local = Path(tmp, "store.db")
        await asyncio.to_thread(snapshot, store_file, local)
        info = await objects.put_file(key, local, content_type="application/vnd.sqlite3")
    for old in (await list_backups(objects))[:-keep]:
        await objects.delete(old.key)
    log.info("cleanup.backup_written", key=key, bytes=info.size)
    return info


def taken_at(obj: ObjectInfo) -> datetime | None:
    """When a snapshot was taken: the time in its key (the taker's clock), else its write time."""
    stamp = obj.key.removeprefix(f"{PREFIX}store-").removesuffix(".db")
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return obj.modified


async def due(objects: ObjectStore, *, now: datetime, interval: timedelta) -> bool:
    """Whether a pass should take a snapshot: backups are on and the newest is `interval` old."""
    if interval <= timedelta(0):
        return False
    backups = await list_backups(objects)
    newest = taken_at(backups[-1]) if backups else None
    return newest is None or now - newest >= interval


async def restore(objects: ObjectStore, target: Path, *, key: str | None = None, force: bool = False) -> Restored:
    """Put a snapshot (the newest when `key` is None) in place of the store file at `target`.

    An existing store file is refused unless `force`; then it is kept beside as
    `<name>.before-restore` (with its WAL), never deleted.
    """
    if key is None:
        backups = await list_backups(objects)
        if not backups:
            raise BackupError("the object store holds no backup (backups/)")
        key = backups[-1].key
    elif not key.startswith(PREFIX):
        key = PREFIX + key
    if await asyncio.to_thread(target.exists) and not force:
        raise BackupError(f"{target} exists: stop the services and pass --force to replace it (it is kept aside)")
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mc-restore-", dir=target.parent) as tmp:
        local = Path(tmp, "store.db")
        try:
            await objects.get_file(key, local)
        except NotFound as exc:
            raise BackupError(f"no backup named {key}") from exc
        tasks, users = await asyncio.to_thread(check, local)
        kept = await asyncio.to_thread(put_in_place, local, target)
    log.info("cleanup.backup_restored", key=key, path=str(target), tasks=tasks, users=users)
    return Restored(key=key, path=target, tasks=tasks, users=users, kept_previous=kept)


def put_in_place(snapshot_file: Path, target: Path) -> Path | None:
    """Move a checked snapshot to `target`; an existing store file (and its WAL) is kept beside it
    as `<name>.before-restore`, never deleted. Returns that file, if any. Blocking."""
    kept = None
    if target.exists():
        kept = target.with_name(target.name + ".before-restore")
        os.replace(target, kept)
    for suffix in ("-wal", "-shm"):
        side = target.with_name(target.name + suffix)
        if side.exists():
            if kept is not None:
                os.replace(side, kept.with_name(kept.name + suffix))
            else:
                side.unlink()
    os.replace(snapshot_file, target)
    return kept


class BackupSettings(BaseServiceSettings):
    """What the command needs: the store URL (MEDIACRAFT_STORE_URL) and the object store's."""

    service_name: str = "backup"
    backup_keep: int = 14


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mediacraft-backup", description="Snapshots of the SQLite store in the object store, and their restore."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("now", help="take a snapshot now")
    commands.add_parser("list", help="list the snapshots, oldest first")
    back = commands.add_parser("restore", help="put a snapshot in place of the store file (services stopped)")
    back.add_argument("--key", help="the snapshot (a key under backups/, or its name); default: the newest")
    back.add_argument("--to", help="the store file to write; default: the file of MEDIACRAFT_STORE_URL")
    back.add_argument("--force", action="store_true", help="replace an existing store file (kept aside)")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, settings: BackupSettings) -> int:
    objects = make_object_store(settings.object_store_url)
    await objects.start()
    try:
        store_file = sqlite_store_path(settings.store_url)
        if args.command == "list":
            for obj in await list_backups(objects):
                sys.stdout.write(f"{obj.key}\t{obj.size}\t{obj.modified.isoformat() if obj.modified else ''}\n")
            return 0
        if args.command == "now":
            if store_file is None:
                raise BackupError("MEDIACRAFT_STORE_URL is not a SQLite file: back MongoDB up with mongodump")
            info = await back_up(store_file, objects, clock=SystemClock(), keep=settings.backup_keep)
            sys.stdout.write(f"{info.key}\t{info.size}\n")
            return 0
        target = Path(args.to) if args.to else store_file
        if target is None:
            raise BackupError("give --to PATH: MEDIACRAFT_STORE_URL is not a SQLite file")
        done = await restore(objects, target, key=args.key, force=args.force)
        sys.stdout.write(f"restored {done.key} to {done.path}: {done.tasks} tasks, {done.users} users\n")
        if done.kept_previous is not None:
            sys.stdout.write(f"the previous store file is kept as {done.kept_previous}\n")
        return 0
    except BackupError as exc:
        sys.stderr.write(f"mediacraft-backup: {exc}\n")
        return 1
    finally:
        await objects.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point of `mediacraft-backup` and `python -m mediacraft.cleanup.backup`."""
    args = parse_args(argv)
    settings = BackupSettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    raise SystemExit(eventloop.run(run(args, settings)))


if __name__ == "__main__":
    main()
