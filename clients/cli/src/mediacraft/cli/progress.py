"""What a person sees while waiting: one status line, redrawn in place on a terminal, or one
printed line per change when the output is a file or a pipe. No dependency beyond the stdlib."""

from __future__ import annotations

import shutil
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from mediacraft.cli.envelope import parse_time

TERMINAL = frozenset({"completed", "failed", "cancelled", "expired"})
BAR_WIDTH = 20
# Redraws closer together than this are skipped on a terminal (a fast upload calls per chunk).
MIN_REDRAW = 0.1


def format_duration(seconds: float) -> str:
    """0:07, 12:30, 1:02:03."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_bytes(n: float | None) -> str:
    """1.5 MiB, 830 B."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def bar(percent: float, width: int = BAR_WIDTH) -> str:
    """[########............] for a percentage (ASCII, so any terminal shows it)."""
    filled = int(max(0.0, min(100.0, percent)) / 100 * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def failure_reason(view: dict[str, Any]) -> str:
    """The task's own account of why it failed, was cancelled or is retrying."""
    error = view.get("error") or {}
    return str(error.get("message") or view.get("error_message") or view.get("message") or "").strip()


def task_line(view: dict[str, Any], *, since_update: float = 0.0, server_now: datetime | None = None) -> str:
    """One line for a task's current state: percent, stage, ETA, queue position, retries, message."""
    status = str(view.get("status", "?"))
    percent = float(view.get("progress") or 0.0)
    message = str(view.get("message") or "").strip()
    parts: list[str]
    if status == "processing":
        parts = [f"{bar(percent)} {percent:3.0f}% processing"]
        if view.get("stage"):
            parts.append(str(view["stage"]))
        eta = view.get("eta_seconds")
        if eta is not None:
            parts.append(f"ETA {format_duration(max(0.0, float(eta) - since_update))}")
        if message:
            parts.append(message)
    elif status == "queued":
        parts = ["queued"]
        if view.get("queue_position"):
            parts.append(f"position {view['queue_position']} in line")
        if message:
            parts.append(message)
    elif status == "retrying":
        parts = [f"retrying (retry {view.get('retry_count', 0)} of {view.get('max_retries', '?')})"]
        next_at = parse_time(view.get("next_retry_at"))
        if next_at is not None and server_now is not None:
            parts.append(f"next attempt in {format_duration((next_at - server_now).total_seconds())}")
        reason = failure_reason(view)
        if reason:
            parts.append(reason)
    elif status == "completed":
        parts = [f"{bar(100)} 100% completed"]
    elif status in ("failed", "cancelled", "expired", "cancelling"):
        reason = failure_reason(view) if status == "failed" else message
        parts = [status + (f": {reason}" if reason and reason.lower() != status else "")]
    else:  # created, uploaded: a draft nobody submitted
        parts = [f"{status} (not submitted)"]
    return " | ".join(parts)


def change_key(view: dict[str, Any]) -> tuple[Any, ...]:
    """What must change for a new line in a log (not the ETA countdown, not fractions of a percent)."""
    return (
        view.get("status"),
        view.get("stage"),
        int(float(view.get("progress") or 0)),
        view.get("queue_position"),
        view.get("message"),
        view.get("retry_count"),
        view.get("next_retry_at"),
        failure_reason(view),
    )


def transfer_line(label: str, done: int, total: int) -> str:
    """An upload or download line: label, bar, percent, bytes."""
    percent = 100.0 * done / total if total else 100.0
    return f"{label} {bar(percent)} {percent:3.0f}% {format_bytes(done)} of {format_bytes(total)}"


class StatusLine:
    """A line redrawn with \\r on a terminal; elsewhere printed again only when its key changes."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty() if tty is None else tty
        self._shown = 0  # width of what is on the terminal line now
        self._last_key: Any = object()
        self._last_draw = 0.0
        self._last_text = ""

    def show(self, text: str, *, key: Any = None, force: bool = False) -> None:
        """Draw `text` (on a terminal) or print it when `key` (default: the text) changed."""
        if not self.enabled:
            return
        if not self.tty:
            key = text if key is None else key
            if key != self._last_key:
                self._last_key = key
                self.stream.write(text + "\n")
                self.stream.flush()
            return
        now = time.monotonic()
        if not force and (text == self._last_text or now - self._last_draw < MIN_REDRAW):
            return
        self._last_draw, self._last_text = now, text
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        if len(text) > width:
            text = text[: width - 3] + "..."
        # pad with spaces over the tail of a longer previous line: plain \r, no escape codes
        self.stream.write("\r" + text + " " * max(0, self._shown - len(text)))
        self.stream.flush()
        self._shown = len(text)

    def end(self) -> None:
        """Leave the line as it is and move below it (terminal), ready for other output."""
        if self.enabled and self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = 0
        self._last_key = object()
        self._last_text = ""

    def say(self, text: str) -> None:
        """A message of its own (below any status line); silent when progress output is off."""
        if not self.enabled:
            return
        self.end()
        self.stream.write(text + "\n")
        self.stream.flush()
