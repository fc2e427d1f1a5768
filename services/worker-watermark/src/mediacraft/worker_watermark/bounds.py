"""The limits one ffmpeg pipeline runs under, whichever method it uses."""

from __future__ import annotations

from dataclasses import dataclass

from mediacraft.shared.media import MediaLimits


@dataclass(frozen=True)
class RunBounds:
    """Input limits, wall-clock timeout, output size, ffmpeg heap cap and cancel grace for one run."""

    media: MediaLimits
    timeout: float | None = None
    max_output_bytes: int | None = None
    memory_limit: int | None = None
    grace: float = 1.0
