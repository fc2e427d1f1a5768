"""Human-readable renderings of API answers for stdout (scripts use --json instead)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mediacraft.cli.envelope import parse_time
from mediacraft.cli.progress import failure_reason, format_bytes, format_duration, task_line

SHORT_TYPES = {
    "watermark_removal": "watermark",
    "video_merge": "merge",
    "image_generation": "image",
    "video_generation": "video",
    "video_reprocess": "reprocess",
}


def emit(text: str) -> None:
    """One block of output on stdout."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def emit_json(doc: Any) -> None:
    """One JSON document on stdout (--json)."""
    emit(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False))


def local_time(value: Any) -> str:
    """An API instant in the local time zone, to the second."""
    when = parse_time(value)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else "-"


def task_name(view: dict[str, Any]) -> str:
    """What the task is about: its display name, the uploaded file's name, or the prompt."""
    name = view.get("display_name") or view.get("original_filename")
    if not name:
        prompt = (view.get("config") or {}).get("prompt")
        name = f'"{prompt[:40]}"' if isinstance(prompt, str) else ""
    extra = len(view.get("inputs") or []) - 1
    return f"{name} (+{extra})" if name and extra > 0 else str(name)


def elapsed(view: dict[str, Any]) -> float | None:
    """Seconds from start to completion, when both are known."""
    start, end = parse_time(view.get("started_at")), parse_time(view.get("completed_at"))
    return (end - start).total_seconds() if start and end else None


def media_text(media: dict[str, Any] | None) -> str:
    if not media:
        return ""
    parts = []
    if media.get("width") and media.get("height"):
        parts.append(f"{media['width']}x{media['height']}")
    if media.get("duration"):
        parts.append(f"{float(media['duration']):.1f} s")
    return ", ".join(parts)


def status_text(view: dict[str, Any], *, server_now: datetime | None = None) -> str:
    """A task's details, one `label  value` per line."""
    rows: list[tuple[str, str]] = [
        ("Task", str(view.get("task_id"))),
        ("Type", str(view.get("task_type"))),
        ("Status", task_line(view, server_now=server_now)),
    ]
    if view.get("stage") and view.get("status") not in ("processing", "completed"):
        rows.append(("Stage", f"{view['stage']} ({float(view.get('progress') or 0):.0f}%)"))
    if view.get("attempts"):
        rows.append(
            ("Attempts", f"{view['attempts']} (retries {view.get('retry_count', 0)} of {view.get('max_retries', '?')})")
        )
    reason = failure_reason(view)
    if view.get("error"):
        rows.append(("Error", f"{reason} [{view['error'].get('code')}]"))
    for item in view.get("inputs") or []:
        details = ", ".join(p for p in (format_bytes(item.get("size")), media_text(item.get("media"))) if p)
        rows.append(("Input", f"{item.get('original_name')} ({details})"))
    result = view.get("result")
    if result:
        details = ", ".join(p for p in (format_bytes(result.get("size")), media_text(result.get("media"))) if p)
        rows.append(("Result", f"{result.get('filename') or '-'} ({details})"))
    for label, key in (
        ("Created", "created_at"),
        ("Submitted", "submitted_at"),
        ("Started", "started_at"),
        ("Finished", "completed_at"),
        ("Expires", "expires_at"),
    ):
        if view.get(key):
            rows.append((label, local_time(view[key])))
    if view.get("download_url"):
        rows.append(("Download", f"mediacraft download {view['task_id']}"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def tasks_table(tasks: Iterable[dict[str, Any]]) -> str:
    """The list command's table, newest first as the API sends it."""
    rows = [("TASK ID", "TYPE", "STATUS", "PROGRESS", "CREATED", "NAME")]
    for t in tasks:
        rows.append(
            (
                str(t.get("task_id")),
                SHORT_TYPES.get(str(t.get("task_type")), str(t.get("task_type"))),
                str(t.get("status")),
                f"{float(t.get('progress') or 0):.0f}%",
                local_time(t.get("created_at")),
                task_name(t),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows)


def counts_text(counts: dict[str, int]) -> str:
    """`2 completed, 1 queued` in a stable order."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n)


def info_text(data: dict[str, Any], *, server: str, api_version: str | None, identity_path: str) -> str:
    """The info command: server, identity, task statistics and the server's limits."""
    stats = data.get("stats") or {}
    limits = data.get("limits") or {}
    rows = [
        ("Server", f"{server} (API version {api_version or '?'})"),
        ("User", f"{data.get('user_id')} (since {local_time(data.get('created_at'))})"),
        ("Identity", identity_path),
        (
            "Tasks",
            f"{stats.get('total', 0)} in total"
            + (f": {counts_text(stats.get('by_status') or {})}" if stats.get("total") else ""),
        ),
        ("Upload limit", f"{format_bytes(limits.get('max_upload_bytes'))} per file"),
        ("Merge limit", f"{limits.get('merge_max_inputs', '?')} files"),
    ]
    if limits.get("max_media_duration_seconds"):
        rows.append(("Media limit", format_duration(float(limits["max_media_duration_seconds"]))))
    if limits.get("max_waiting_tasks"):
        rows.append(("Waiting limit", f"{limits['max_waiting_tasks']} tasks"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def completed_text(view: dict[str, Any]) -> str:
    """One line about a finished task's result."""
    took = elapsed(view)
    result = view.get("result") or {}
    line = f"Task {view.get('task_id')} completed"
    if took is not None:
        line += f" in {took:.1f} s" if took < 60 else f" in {format_duration(took)}"
    if result:
        line += f": {result.get('filename') or 'result'} ({format_bytes(result.get('size'))})"
    return line
