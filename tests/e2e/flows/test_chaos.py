"""Services killed one after another while tasks run: the local stack starts each again, and every
task still ends exactly once, completed, with a result a player accepts.

The distributed shape (`make stack`) with two scheduler replicas and two processes per worker
pool, on RabbitMQ and S3. Four visitors submit merges, watermark removals and generations; then,
while the tasks are processed, each kind of service is killed with SIGKILL in turn, the next only
once the stack has started the last one again and the queue has moved on: a worker pool whole
while one of its tasks is processing (its job is lost with it), a scheduler replica twice (the
two original ones in turn, so the active one is among them), the gateway, identity and cleanup
once. Short lease and retry timers (see `product.FAST_TIMERS`) let a lost job be retried quickly;
a task may take a few attempts, never more than its retries allow, and none fails.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.flows.client import Visitor
from tests.e2e.flows.conftest import LOGO_BOX, Clips, launch
from tests.e2e.flows.media import streams
from tests.e2e.flows.product import STACK, ProductProcess
from tests.fixtures.waiting import poll

pytestmark = pytest.mark.slow

# one of each kind, the scheduler twice (one replica is active, the other takes over)
VICTIMS = (
    "worker_merge",
    "scheduler",
    "worker_watermark",
    "gateway",
    "worker_generate",
    "identity",
    "scheduler",
    "cleanup",
)
TERMINAL = {"completed", "failed", "cancelled", "expired"}
POOL_TYPES = {
    "worker_merge": {"video_merge"},
    "worker_watermark": {"watermark_removal"},
    "worker_generate": {"image_generation", "video_generation"},
}
MIN_KILLS_DURING_WORK = len(VICTIMS) - 2
STEP_TIMEOUT = 90.0
FINISH_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductProcess]:
    served = launch(request, STACK, tmp_path_factory.mktemp("chaos"), {})
    served.workers, served.schedulers = 2, 2
    served.start()
    try:
        yield served
    finally:
        if served.process is not None and served.process.poll() is None:
            served.kill()


def statuses(visitors: list[Visitor]) -> dict[str, str] | None:
    """Every task's status, or None while the gateway cannot answer (it may be starting again)."""
    try:
        return {t["task_id"]: t["status"] for v in visitors for t in v.all_tasks()}
    except (httpx.TransportError, AssertionError):
        return None


def submit_mix(visitor: Visitor, clips: Clips, n: int) -> dict[str, str]:
    """One task of each type, each unlike the visitor's others (the same request twice within
    seconds makes one task); returns their ids and types."""
    merge = visitor.create("video_merge")["task_id"]
    visitor.upload(merge, *clips.parts[n:], *clips.parts[:n])
    visitor.submit(merge, {})
    watermark = visitor.create("watermark_removal")["task_id"]
    visitor.upload(watermark, clips.watermarked)
    x, y, w, h = LOGO_BOX
    visitor.submit(watermark, {"regions": [[x - n, y - n, w + 2 * n, h + 2 * n]]})
    image = visitor.generate_image(f"chaos image {n}", 160, 120)
    video = visitor.submit_generation(
        "video_generation", {"prompt": f"chaos video {n}", "duration": 2, "width": 320, "height": 180}
    )["task_id"]
    return {merge: "video_merge", watermark: "watermark_removal", image: "image_generation", video: "video_generation"}


def test_every_task_completes_once_while_each_kind_of_service_is_killed_in_turn(
    stack: ProductProcess,
    clips: Clips,
    tmp_path: Path,
) -> None:
    visitors = [Visitor(stack.url, f"visitor-{n}") for n in range(4)]
    try:
        run(stack, clips, visitors, tmp_path)
    finally:
        for visitor in visitors:
            visitor.close()


def run(stack: ProductProcess, clips: Clips, visitors: list[Visitor], tmp_path: Path) -> None:
    owners: dict[str, Visitor] = {}
    types: dict[str, str] = {}

    def submit(visitor: Visitor) -> None:
        n = sum(1 for owner in owners.values() if owner is visitor) // 4
        for task_id, task_type in submit_mix(visitor, clips, n).items():
            owners[task_id], types[task_id] = visitor, task_type

    for visitor in visitors:
        submit(visitor)
    before = stack.services()
    assert {k: len(v) for k, v in before.items()} == {
        "identity": 1,
        "gateway": 1,
        "scheduler": 2,
        "worker_watermark": 2,
        "worker_merge": 2,
        "worker_generate": 2,
        "cleanup": 1,
    }, before

    progress: list[dict[str, str]] = []
    for victim in VICTIMS:
        if victim in POOL_TYPES:

            def busy(wanted: set[str] = POOL_TYPES[victim]) -> dict[str, str] | None:
                now = statuses(visitors)
                if now is None:
                    return None
                running = any(status == "processing" and types[t] in wanted for t, status in now.items())
                return now if running or set(now.values()) <= TERMINAL else None

            seen = poll(busy, timeout=STEP_TIMEOUT, what=f"a task of {victim} processing")
            targets = stack.services()[victim]
        else:
            seen = poll(lambda: statuses(visitors), timeout=STEP_TIMEOUT, what="the task list")
            targets = stack.services()[victim][:1]
        for target in targets:
            target.kill()
        progress.append(seen)

        def back_and_moving(
            victim: str = victim, pids: frozenset[int] = frozenset(t.pid for t in targets), seen: dict[str, str] = seen
        ) -> bool:
            now = stack.services().get(victim, [])
            if len(now) != len(before[victim]) or pids & {p.pid for p in now}:
                return False  # not started again yet
            current = statuses(visitors)
            return current is not None and (current != seen or set(current.values()) <= TERMINAL)

        poll(back_and_moving, timeout=STEP_TIMEOUT, what=f"{victim} started again and the queue moving on")
        submit(visitors[len(progress) % len(visitors)])  # more work keeps coming meanwhile

    final = poll(
        lambda: (s := statuses(visitors)) is not None and set(s.values()) <= TERMINAL and s,
        timeout=FINISH_TIMEOUT,
        what="every task in a final state",
    )
    assert sorted(final) == sorted(owners), "no task lost, none made twice"
    assert set(final.values()) == {"completed"}, final
    views = {task_id: who.status(task_id) for task_id, who in owners.items()}
    for view in views.values():
        # an attempt lost with its killed worker is dispatched again without using a retry
        assert view["attempts"] <= 1 + view["retry_count"] + view["lost_redispatches"], view
        assert view["retry_count"] <= view["max_retries"], view
    during_work = sum(1 for seen in progress if set(seen.values()) - TERMINAL)
    assert during_work >= MIN_KILLS_DURING_WORK, f"only {during_work} kills came while tasks were unfinished"

    restarted = stack.run_log().count("starting it again")
    killed = sum(len(before[v]) if v in POOL_TYPES else 1 for v in VICTIMS)
    assert restarted == killed, stack.log_tail()
    assert {k: len(v) for k, v in stack.services().items()} == {k: len(v) for k, v in before.items()}

    check_results(views, owners, clips, tmp_path)
    assert stack.stop(signal.SIGINT) == 0, stack.log_tail()


def check_results(views: dict[str, dict[str, Any]], owners: dict[str, Visitor], clips: Clips, tmp_path: Path) -> None:
    expected: dict[str, Callable[[Path], None]] = {
        "video_merge": lambda path: _close(streams(path).duration, sum(streams(p).duration for p in clips.parts), 0.15),
        "watermark_removal": lambda path: _close(streams(path).duration, streams(clips.watermarked).duration, 0.1),
        "video_generation": lambda path: _close(streams(path).duration, 2.0, 0.1),
        "image_generation": lambda path: _assert(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path),
    }
    for task_id, view in views.items():
        path = owners[task_id].download(task_id, tmp_path / f"{task_id}.out")
        expected[view["task_type"]](path)


def _close(got: float, want: float, tolerance: float) -> None:
    assert abs(got - want) <= tolerance, (got, want)


def _assert(condition: bool, what: Any) -> None:
    assert condition, what
