"""Finding a watermark in a video by itself (placeholder: the detector replaces this module)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class DetectedRegion:
    box: tuple[int, int, int, int]
    confidence: float
    mask_png: bytes | None = None


@dataclass(frozen=True)
class Detection:
    state: Literal["done", "nothing_found", "cannot_tell"]
    regions: tuple[DetectedRegion, ...]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "regions": [{"box": list(r.box), "confidence": r.confidence} for r in self.regions],
            "message": self.message,
        }


def detect_watermarks(
    path: Path,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[float], None] | None = None,
) -> Detection:
    """Blocking (CPU); callers run it in a thread. Reads the video at `path` (ffmpeg)."""
    raise NotImplementedError("watermark detection is not available yet")
