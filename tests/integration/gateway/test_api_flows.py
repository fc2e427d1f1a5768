"""The core API flows on the embedded adapters (MemoryBus, SQLite, local directory)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.gateway import flows
from tests.integration.gateway.harness import Gateway


async def test_watermark_round_trip(gateway: Gateway, clip: Path) -> None:
    await flows.watermark_round_trip(gateway, clip)


async def test_merge_inputs_keep_their_order(gateway: Gateway, clip: Path, clip_b: Path) -> None:
    await flows.merge_in_order(gateway, clip, clip_b)


async def test_returning_visitor_sees_everything_and_strangers_nothing(gateway: Gateway, clip: Path) -> None:
    await flows.returning_visitor_and_strangers(gateway, clip)


async def test_one_call_submit_duplicates_and_idempotency_keys(gateway: Gateway, clip: Path) -> None:
    await flows.one_call_submit_duplicates_and_keys(gateway, clip)


async def test_live_events_and_resume(gateway: Gateway, clip: Path) -> None:
    await flows.live_events_and_resume(gateway, clip)


async def test_refused_uploads_leave_nothing(gateway: Gateway, clip: Path) -> None:
    await flows.refused_uploads_leave_nothing(gateway, clip)
