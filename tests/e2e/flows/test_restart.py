"""Everything stops while tasks run and wait, then starts again on the same data: no task is lost.

Two users keep the product busy, each with one task running (one task per user at a time, the
default quota) and more waiting behind it. Bob's running task is a generation that the test's
generation service holds: it is still running when the drain runs out and is handed back. Alice's
is a short merge: it finishes during the drain (see `product_settings`), with her next task
waiting behind it. The product is stopped with SIGTERM (as an orchestrator stops it) right then,
and started again on the same data, and the service answers from then on. Every task must then
finish with a complete result; a task that was running may be retried as lost, but a task that
was waiting must simply start (it was never running, so it has no attempt to lose). Short lease
and retry timers (see `product.FAST_TIMERS`) let a lost task be retried quickly.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.flows.backend import GenerationBackend
from tests.e2e.flows.client import Visitor
from tests.e2e.flows.conftest import LOGO_BOX, Clips, backend_settings
from tests.e2e.flows.media import streams
from tests.e2e.flows.product import STANDALONE, ProductProcess

pytestmark = [pytest.mark.slow, pytest.mark.drill]  # the full-restart fault drill

FINISH_TIMEOUT = 120.0
HELD = "held by the backend until the product has restarted"


@pytest.fixture(scope="module")
def product_settings(backend: GenerationBackend) -> dict[str, str]:
    # Running jobs get 5 s to finish when the product stops: Alice's merge (a second or two of
    # work) makes it; Bob's held generation cannot.
    return {**backend_settings(backend), "MEDIACRAFT_DRAIN_SECONDS": "5", "MEDIACRAFT_SHUTDOWN_GRACE_SECONDS": "5"}


def test_tasks_running_and_waiting_at_a_stop_all_complete_after_the_start(
    product: ProductProcess,
    backend: GenerationBackend,
    visitors: Callable[[str], Visitor],
    clips: Clips,
    tmp_path: Path,
    drill_record: Callable[[str, Any], None],
) -> None:
    backend.hold(HELD)
    asked_before = len(backend.prompts())  # the service serves both modes' products in turn
    alice, bob = visitors("alice"), visitors("bob")
    with alice.events() as alices, bob.events() as bobs:
        held = bob.generate_image(HELD, 320, 180)
        bob_image = bob.generate_image("waits behind")
        merge = alice.create("video_merge")["task_id"]
        alice.upload(merge, *clips.parts)
        watermark = alice.create("watermark_removal")["task_id"]
        alice.upload(watermark, clips.watermarked)
        alice.submit(merge, {})
        alice.submit(watermark, {"regions": [list(LOGO_BOX)], "method": "inpaint"})
        alice_image = alice.generate_image("last in line")
        bobs.wait_until(
            lambda: bobs.status_of(held) == "processing" and bobs.status_of(bob_image) is not None,
            FINISH_TIMEOUT,
            "Bob's held task running",
        )
        alices.wait_until(
            lambda: alices.status_of(merge) == "processing" and alices.status_of(alice_image) is not None,
            FINISH_TIMEOUT,
            "Alice's first task running",
        )
        resume_ids = {alice: alices.events[-1].id, bob: bobs.events[-1].id}
    owners = {held: bob, bob_image: bob, merge: alice, watermark: alice, alice_image: alice}
    at_stop = {task_id: who.status(task_id)["status"] for task_id, who in owners.items()}
    waiting = sorted(t for t, status in at_stop.items() if status == "queued")
    assert at_stop[held] == "processing" and bob_image in waiting and alice_image in waiting, at_stop

    code = product.stop(signal.SIGTERM)
    stopped_at = datetime.now(UTC)
    assert code == 0, f"the {product.mode} product did not stop cleanly on SIGTERM:\n{product.log_tail()}"
    assert backend.prompts()[asked_before:].count(HELD) == 1
    backend.release(HELD)
    product.start()
    drill_record("mode", product.mode)
    drill_record("back up after the stop (s)", (datetime.now(UTC) - stopped_at).total_seconds())

    # Coming back with Last-Event-ID: the stream first replays the current state of every task.
    for who in (alice, bob):
        mine = [t for t, owner in owners.items() if owner is who]
        with who.events(last_event_id=resume_ids[who]) as stream:
            assert set(mine) <= set(stream.tracks), "the resumed stream replays every unfinished task"
            stream.wait_terminal(mine, FINISH_TIMEOUT)

    final = {task_id: who.status(task_id) for task_id, who in owners.items()}
    drill_record("tasks", len(owners))
    drill_record("completed", sum(v["status"] == "completed" for v in final.values()))
    drill_record("attempts of the tasks that waited", max(final[t]["attempts"] for t in waiting))
    assert {t: v["status"] for t, v in final.items()} == dict.fromkeys(owners, "completed")
    assert sorted(t["task_id"] for t in alice.all_tasks() + bob.all_tasks()) == sorted(owners)
    attempts = {t: final[t]["attempts"] for t in waiting}
    assert attempts == dict.fromkeys(waiting, 1), (
        f"tasks that were waiting when the product stopped were run more than once: {attempts} "
        f"(a job dispatched while the workers drained was lost)"
    )
    assert datetime.fromisoformat(final[held]["completed_at"].replace("Z", "+00:00")) > stopped_at
    assert backend.prompts()[asked_before:].count(HELD) == 2, "the interrupted job ran again after the start"
    if product.mode == STANDALONE:
        # the in-process bus forgets the handed-back job: the scheduler retries the task as lost
        assert final[held]["attempts"] == 2
    image = bob.download(held, tmp_path / "held.png")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    merged = streams(alice.download(merge, tmp_path / "merged.mp4"))
    assert abs(merged.duration - sum(streams(p).duration for p in clips.parts)) <= 0.15
    cleaned = streams(alice.download(watermark, tmp_path / "cleaned.mp4"))
    assert cleaned.audio is not None and abs(cleaned.duration - streams(clips.watermarked).duration) <= 0.1
