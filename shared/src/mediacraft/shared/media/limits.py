"""What an input may declare before we agree to decode it.

`MediaLimits` is a frozen pydantic model so that a service can embed it in its Settings (for
example `media: MediaLimits = MediaLimits()`, set from the environment as
`MEDIACRAFT_MEDIA__MAX_DURATION=900` with a nested delimiter) and pass it down unchanged.

The defaults admit 4K (portrait or landscape) up to 20 minutes, the most a 2-core worker
finishes inside one job's wall-clock budget; a file that declares more is refused by
`probe_media` from its headers alone, before anything is decoded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3


class MediaLimits(BaseModel):
    """Upper bounds checked against ffprobe's view of a file before any decoding."""

    model_config = ConfigDict(frozen=True)

    max_file_size: int = Field(2 * GIB, gt=0, description="bytes on disk")
    max_width: int = Field(3840, gt=0, description="coded width of any video stream, pixels")
    max_height: int = Field(3840, gt=0, description="coded height of any video stream, pixels")
    max_pixels: int = Field(3840 * 2160, gt=0, description="width x height of any video stream")
    max_duration: float = Field(20 * 60.0, gt=0, description="seconds")
    max_streams: int = Field(8, gt=0, description="streams of any kind in the container")
    max_frame_rate: float = Field(120.0, gt=0, description="frames per second of any video stream")
    probe_timeout: float = Field(30.0, gt=0, description="seconds ffprobe may take")
    probe_memory: int = Field(512 * 1024**2, gt=0, description="heap ffprobe may allocate (RLIMIT_DATA), bytes")
