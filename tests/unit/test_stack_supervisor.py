"""The local stack starts a service again when its process ends on its own, with a growing delay
while it keeps ending quickly, and a stop of the stack ends it for good, backoff or not."""

from __future__ import annotations

import asyncio
import ctypes
import io
import os
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from mediacraft.standalone import stack as stack_module
from mediacraft.standalone.stack import (
    PR_SET_CHILD_SUBREAPER,
    RESTART_FIRST_DELAY,
    RESTART_MAX_DELAY,
    Child,
    Stack,
    next_restart_delay,
)
from tests.fixtures.waiting import eventually


def test_quick_ends_double_the_delay_up_to_the_cap() -> None:
    delays = [0.0]
    for _ in range(10):
        delays.append(next_restart_delay(delays[-1]))
    assert delays[:4] == [0.0, RESTART_FIRST_DELAY, 2 * RESTART_FIRST_DELAY, 4 * RESTART_FIRST_DELAY]
    assert delays[-1] == RESTART_MAX_DELAY and all(b >= a for a, b in pairwise(delays))


@pytest.fixture(autouse=True)
def not_a_subreaper_afterwards() -> Iterator[None]:
    """The stack makes its process a child subreaper; the test process must not stay one."""
    yield
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


class OneServiceStack(Stack):
    """A stack of one service that prints a line and ends at once (`python -m this`)."""

    def plan(self, env: dict[str, str]) -> list[Child]:
        return [Child("zen", "this", env)]


@pytest.fixture
def three_quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restart delays of 10 ms three times, then a minute: a stop must cut that one short."""
    delays = iter([0.01, 0.01, 0.01])
    monkeypatch.setattr(stack_module, "next_restart_delay", lambda previous: next(delays, 60.0))


async def test_a_service_that_ends_is_started_again_until_the_stack_stops(
    tmp_path: Path,
    three_quick_restarts: None,
    monkeypatch: pytest.MonkeyPatch,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    monkeypatch.setenv("MEDIACRAFT_OBJECT_STORE_URL", "s3://key:secret@127.0.0.1:9/bucket")  # no S3 server here
    stack = OneServiceStack(data_dir=tmp_path, grace=10.0)
    await stack.start()
    [child] = stack.children
    try:
        await eventually(
            lambda: child.restarts == 3 and child.process is not None and child.process.returncode is not None,
            timeout=30,
            what="three restarts, the last one ended",
        )
    finally:
        loop = asyncio.get_running_loop()
        began = loop.time()
        await stack.stop()
        stopped_in = loop.time() - began
    assert stopped_in < 5, "a stop does not wait out the minute's restart delay"
    assert child.process is not None and child.process.returncode is not None
    restarts = child.restarts
    assert restarts == 3
    sys.stdout.flush()
    out = capfdbinary.readouterr().out
    assert out.count(b"zen | Beautiful is better than ugly.") == restarts + 1, out[-2000:]


class LeavesASleeper(Stack):
    """A stack of one service that starts a process in a session of its own and dies by SIGKILL."""

    def plan(self, env: dict[str, str]) -> list[Child]:
        return [Child("leaver", "tests.fixtures.leaves_a_sleeper", env)]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="child subreapers and /proc are Linux's")
async def test_what_a_dead_service_left_running_is_ended(
    tmp_path: Path,
    three_quick_restarts: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIACRAFT_OBJECT_STORE_URL", "s3://key:secret@127.0.0.1:9/bucket")
    pid_file = tmp_path / "leftover.pid"
    monkeypatch.setenv("LEFTOVER_PID_FILE", str(pid_file))
    stack = LeavesASleeper(data_dir=tmp_path, grace=10.0)
    await stack.start()
    try:
        first = await eventually(
            lambda: pid_file.exists() and int(pid_file.read_text()), timeout=30, what="the first run's leftover"
        )
        # the service is started again after it died; by then its leftover is gone
        await eventually(lambda: stack.children[0].restarts >= 1, timeout=30, what="a restart")
        assert not _running(first), "the leftover of the first run still runs"
        await eventually(lambda: int(pid_file.read_text()) != first, timeout=30, what="the second run's leftover")
        second = int(pid_file.read_text())
    finally:
        await stack.stop()
    await eventually(lambda: not _running(second), timeout=10, what="the last leftover ended at the stop")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="child subreapers and /proc are Linux's")
async def test_a_service_that_ignores_the_stop_is_killed_after_the_grace_with_what_it_started(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIACRAFT_OBJECT_STORE_URL", "s3://key:secret@127.0.0.1:9/bucket")
    pid_file = tmp_path / "leftover.pid"
    monkeypatch.setenv("LEFTOVER_PID_FILE", str(pid_file))
    monkeypatch.setenv("LEFTOVER_THEN", "hang")
    stack = LeavesASleeper(data_dir=tmp_path, grace=0.5)
    await stack.start()
    try:
        sleeper = await eventually(
            lambda: pid_file.exists() and int(pid_file.read_text()), timeout=30, what="the service's sleeper"
        )
    finally:
        await asyncio.wait_for(stack.stop(), timeout=20)
    [child] = stack.children
    assert child.process is not None and child.process.returncode == -9, "killed after the grace"
    assert child.restarts == 0
    assert not _running(sleeper), "what it started goes with it"


@pytest.mark.slow
async def test_the_s3_server_the_stack_started_is_started_again_when_it_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.delenv("MEDIACRAFT_OBJECT_STORE_URL", raising=False)
    stack = OneServiceStack(data_dir=tmp_path, grace=10.0)
    await stack.start()
    try:
        s3 = stack.s3
        assert s3 is not None and s3.process is not None
        client = s3.client(timeout=2.0, retries=False)
        client.make_bucket("kept")
        client.put_object("kept", "before", io.BytesIO(b"written before the crash"), 24)
        first = s3.process
        first.kill()
        await eventually(
            lambda: stack.s3_restarts == 1 and s3.process not in (None, first) and first.poll() is not None,
            timeout=60,
            what="SeaweedFS started again",
        )
        assert s3.process is not None and s3.process.poll() is None
        # same endpoint, same data: what was written before the crash is still there
        body = await asyncio.to_thread(lambda: client.get_object("kept", "before").read())
        assert body == b"written before the crash"
    finally:
        await stack.stop()
    assert s3.process is not None and s3.process.poll() is not None
    sys.stdout.flush()
    out = capfdbinary.readouterr().out
    assert b"seaweedfs" in out and b"SeaweedFS serving again" in out
