"""The provider port: validated parameters in, media files written into the job's directory out.

A provider is synchronous (the worker runtime runs processors in a thread). It writes every file
it produces under `request.outdir` and returns them in order: `count` images for an image request,
one video for a video request. It raises the shared typed errors, which the runtime turns into the
job's outcome and the scheduler into the task's fate:

- `RetryableError`: the backend timed out, answered 5xx, refused the connection, was busy, or sent
  something unusable. The task is retried on the schedule (1, 5, 15 min by default).
- `InvalidInput`: the backend refused the prompt or settings (a 4xx about them). The task fails at
  once with the backend's reason.
- `JobCancelledError`: `request.cancel_event` was set; stop promptly and leave no partial files.

`Generation.info` is merged into the task's result info; `provider` names who rendered the media.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mediacraft.shared.generation import GenerationParams
from mediacraft.shared.worker.contract import JobCancelledError

ReportProgress = Callable[[float, str], None]  # fraction 0..1 of the generation, detail


@dataclass(frozen=True)
class GenerationRequest:
    """One job's ask: validated parameters, the seed to use, and where to write."""

    params: GenerationParams
    seed: int
    outdir: Path
    task_id: str = ""
    attempt: int = 1
    cancel_event: threading.Event = field(default_factory=threading.Event)
    report: ReportProgress = lambda fraction, detail: None
    timeout: float | None = None  # seconds left of the job's wall-clock budget, when known

    def check_cancelled(self) -> None:
        """Raise JobCancelledError when the job has been cancelled."""
        if self.cancel_event.is_set():
            raise JobCancelledError("the job was cancelled")

    @property
    def kind(self) -> str:
        return self.params.kind

    @property
    def expected_files(self) -> int:
        """How many files the request asks for."""
        return getattr(self.params, "count", 1)


@dataclass(frozen=True)
class GeneratedFile:
    path: Path
    content_type: str


@dataclass(frozen=True)
class Generation:
    files: list[GeneratedFile]
    info: dict[str, Any] = field(default_factory=dict)


class GenerationProvider(Protocol):
    """Renders media for a request; see the module docstring for the error contract."""

    name: str

    def generate(self, request: GenerationRequest) -> Generation: ...

    def close(self) -> None:
        """Release connections; called once when the worker stops."""
