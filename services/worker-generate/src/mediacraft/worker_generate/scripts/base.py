"""The script provider port, shaped like the generation provider port (providers/base.py).

A provider is synchronous (the worker runtime runs processors in a thread). It writes a `Script`
from the brief in `request.params` and reports progress as scenes are written, with a plain
message ("writing scene 3 of 6"). It raises the shared typed errors:

- `RetryableError`: the backend timed out, answered 5xx or 429, refused the connection. The task
  is retried on the schedule (1, 5, 15 min by default).
- `ScriptUnreadable`: the backend's answer could not be read as a script, twice in a row. The task
  fails at once with a plain message; the person may start again.
- `JobCancelledError`: `request.cancel_event` was set; stop promptly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mediacraft.shared.errors import MediaCraftError
from mediacraft.shared.scripts import Script, ScriptParams
from mediacraft.shared.worker.contract import JobCancelledError

ReportProgress = Callable[[float, str], None]  # fraction 0..1 of the script, plain message


class ScriptUnreadable(MediaCraftError):
    """The backend answered, but not with a script we can use (not retried on the schedule)."""

    code = "script_unreadable"


@dataclass(frozen=True)
class ScriptRequest:
    """One job's ask: the validated brief and how to report."""

    params: ScriptParams
    task_id: str = ""
    attempt: int = 1
    cancel_event: threading.Event = field(default_factory=threading.Event)
    report: ReportProgress = lambda fraction, message: None
    timeout: float | None = None  # seconds left of the job's wall-clock budget, when known

    def check_cancelled(self) -> None:
        """Raise JobCancelledError when the job has been cancelled."""
        if self.cancel_event.is_set():
            raise JobCancelledError("the job was cancelled")


class ScriptProvider(Protocol):
    """Writes a script for a request; see the module docstring for the error contract."""

    name: str

    def write(self, request: ScriptRequest) -> Script: ...

    def close(self) -> None:
        """Release connections; called once when the worker stops."""


def writing_scene(number: int, total: int) -> str:
    """The progress message while scene `number` of `total` is written."""
    return f"writing scene {number} of {total}"
