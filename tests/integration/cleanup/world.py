"""Tasks with real files for cleanup tests: each helper stores the objects a task of that kind
has at that point of its life, under the keys of docs/interop.md, and inserts its record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import InputFile, ResultFile, Task, TaskStatus, TaskType, User

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def put(objects: Any, key: str, size: int = 1000) -> str:
    """Store `size` bytes under `key`; returns the key."""
    await objects.put_stream(key, _chunks(b"m" * size))
    return key


async def keys(objects: Any, prefix: str = "") -> set[str]:
    """Every stored key under `prefix`."""
    return {info.key async for info in objects.list(prefix)}


async def snapshot(objects: Any) -> dict[str, tuple[int, str | None]]:
    """Every object with its size and etag: what must not change in a dry run."""
    return {info.key: (info.size, info.etag) async for info in objects.list("")}


@dataclass
class World:
    """Builds tasks on one store and object store, with times relative to the test's clock."""

    store: Any
    objects: Any
    clock: FakeClock

    def _task(self, status: TaskStatus, *, user: str, age: timedelta, **fields: Any) -> Task:
        at = self.clock.now() - age
        return Task(
            task_id=str(uuid.uuid4()), user_id=user, task_type=TaskType.WATERMARK_REMOVAL, status=status,
            created_at=at, updated_at=at, **fields,
        )  # fmt: skip

    async def user(self, user_id: str) -> User:
        now = self.clock.now()
        return await self.store.create_user(User(user_id=user_id, created_at=now, last_accessed=now))

    async def finished(
        self, status: TaskStatus, *, age: timedelta, user: str = "alice", hidden: bool = False, size: int = 1000
    ) -> Task:
        """A task that finished `age` ago after two attempts: its upload, its result if it completed,
        and the partial output the first attempt left behind."""
        task = self._task(
            status,
            user=user,
            age=age + HOUR,
            hidden=hidden,
            attempts=2,
            submitted_at=self.clock.now() - age - HOUR,
            completed_at=self.clock.now() - age,
        )
        upload = await put(self.objects, f"uploads/{user}/{task.task_id}/{uuid.uuid4().hex}", size)
        await put(self.objects, f"results/{task.task_id}/1/partial.mp4", size)
        task.inputs = [InputFile(key=upload, original_name="clip.mp4", size=size)]
        if status is TaskStatus.COMPLETED:
            result = await put(self.objects, f"results/{task.task_id}/2/clip-clean.mp4", size)
            task.result = ResultFile(key=result, size=size, content_type="video/mp4")
        return await self.store.insert(task)

    async def running(self, status: TaskStatus, *, age: timedelta, user: str = "alice", size: int = 1000) -> Task:
        """A task submitted `age` ago that may be running: its upload and a result being written."""
        task = self._task(status, user=user, age=age, attempts=1, submitted_at=self.clock.now() - age, hidden=True)
        upload = await put(self.objects, f"uploads/{user}/{task.task_id}/{uuid.uuid4().hex}", size)
        await put(self.objects, f"results/{task.task_id}/1/out.mp4", size)  # not recorded yet
        task.inputs = [InputFile(key=upload, original_name="clip.mp4", size=size)]
        return await self.store.insert(task)

    async def draft(self, status: TaskStatus, *, age: timedelta, user: str = "alice", size: int = 1000) -> Task:
        """A draft last changed `age` ago, with a file when it is `uploaded`."""
        task = self._task(status, user=user, age=age)
        if status is TaskStatus.UPLOADED:
            upload = await put(self.objects, f"uploads/{user}/{task.task_id}/{uuid.uuid4().hex}", size)
            task.inputs = [InputFile(key=upload, original_name="clip.mp4", size=size)]
        return await self.store.insert(task)


def files_of(task: Task) -> set[str]:
    """The keys a task record lists."""
    listed = {item.key for item in task.inputs}
    if task.result is not None:
        listed.add(task.result.key)
    return listed
