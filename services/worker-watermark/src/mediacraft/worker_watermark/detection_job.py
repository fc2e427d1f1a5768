"""The watermark pool's detection job: `detect` adapts `detect.detect_watermarks` to the runtime.

The shared worker runtime downloads the draft's video and calls `detect(path, cancel)` in a thread
(never on the event loop); the answer it returns is the `Detection` as a dict, which the runtime
reports to the scheduler (`job.detected`) and the scheduler keeps on the task.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mediacraft.worker_watermark import detect as detection


def detect(path: Path, cancel: threading.Event) -> dict[str, Any]:
    """Blocking: where the watermark of the video at `path` is, as {"state", "regions", "message"}."""
    # looked up at call time, so the detector in use is whatever the module holds now
    found = detection.detect_watermarks(path, cancel=cancel)
    return found.to_dict()
