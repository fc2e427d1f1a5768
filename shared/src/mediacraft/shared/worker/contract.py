"""What a worker's processor receives and returns.

A processor is a plain synchronous function `process(ctx: JobContext) -> ProcessorResult`. The
runtime runs it in a thread; the processor keeps CPU work off that thread's GIL by running ffmpeg
in subprocesses and OpenCV on numpy buffers (which releases the GIL) or in a process pool, so the
runtime's event loop keeps sending heartbeats. It reports progress through `ctx.report` and checks
`ctx.cancelled` (or passes `ctx.cancel_event` to the ffmpeg runner) to stop early.

A processor may declare its own stages (names and weights) as a `stages` attribute (see
worker/progress.py); it then moves from one to the next with `ctx.stage(name)`, and `ctx.report`
reports the fraction of the current one. It may also return several files: `ProcessorResult.extras`
are uploaded beside the main result and listed in the result's `info["outputs"]`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mediacraft.shared.errors import MediaCraftError
from mediacraft.shared.tasks import MediaInfo


class JobCancelledError(MediaCraftError):
    """The job was cancelled while running; partial outputs have been removed."""

    code = "cancelled"


ProgressReport = Callable[[float, str], None]  # (fraction of the processing stage 0..1, detail)


@dataclass
class JobContext:
    """Everything a processor may touch: inputs already downloaded into `workdir`."""

    task_id: str
    attempt: int
    workdir: Path
    inputs: list[Path]
    input_names: list[str]
    config: dict[str, Any]
    report: ProgressReport = lambda fraction, detail: None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    deadline_seconds: float | None = None
    task_type: str | None = None  # the RunJob's task type, for pools that serve several
    enter: Callable[[str], None] = lambda name: None

    def stage(self, name: str) -> None:
        """Start the declared stage `name` (the ones before it count as done)."""
        self.check_cancelled()
        self.enter(name)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise JobCancelledError when a cancel has been requested."""
        if self.cancel_event.is_set():
            raise JobCancelledError("the job was cancelled")


@dataclass
class ExtraOutput:
    """One more file a job produced beside its main result (a poster, a storyboard)."""

    role: str  # what it is, the key clients name it by: "poster", "storyboard"
    path: Path  # inside ctx.workdir
    content_type: str
    filename: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProcessorResult:
    path: Path  # inside ctx.workdir
    content_type: str = "video/mp4"
    filename: str = "result.mp4"
    media: MediaInfo | None = None
    info: dict[str, Any] = field(default_factory=dict)
    extras: list[ExtraOutput] = field(default_factory=list)


class Processor(Protocol):
    def __call__(self, ctx: JobContext) -> ProcessorResult: ...
