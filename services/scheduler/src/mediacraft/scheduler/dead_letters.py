"""The dead-letter tool of the scheduler's command line; it lives in the shared package
(`mediacraft.shared.dead_letters`), which the gateway's operator console uses too."""

from __future__ import annotations

from mediacraft.shared.dead_letters import (
    JOB_DEAD_LETTERED,
    SCAN_HEADER,
    Parked,
    RawBus,
    ReplayReport,
    describe,
    list_parked,
    replay,
)

__all__ = ["JOB_DEAD_LETTERED", "SCAN_HEADER", "Parked", "RawBus", "ReplayReport", "describe", "list_parked", "replay"]
