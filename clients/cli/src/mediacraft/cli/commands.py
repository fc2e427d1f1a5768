"""The commands: each takes the parsed arguments and the context and returns an exit status."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from mediacraft.cli.context import Context
from mediacraft.cli.download import Downloaded, Downloader
from mediacraft.cli.errors import API_ERROR, OK, TASK_FAILED, UsageError
from mediacraft.cli.output import (
    SHORT_TYPES,
    completed_text,
    counts_text,
    emit,
    emit_json,
    info_text,
    status_text,
    tasks_table,
)
from mediacraft.cli.progress import failure_reason, format_bytes, transfer_line
from mediacraft.cli.watch import exit_code_for, watch_task

METHODS = {"quality": "auto", "auto": "auto", "inpaint": "inpaint", "speed": "delogo", "delogo": "delogo"}
TYPE_NAMES = {short: full for full, short in SHORT_TYPES.items()}


def full_type(name: str | None) -> str | None:
    """`merge` or `video_merge` -> `video_merge` (anything else goes to the server as given)."""
    return TYPE_NAMES.get(name, name) if name else None


# --- submitting -----------------------------------------------------------------------------


def watermark(args: argparse.Namespace, ctx: Context) -> int:
    config: dict[str, Any] = {"method": METHODS[args.method]}
    if args.region:
        config["regions"] = [list(r) for r in args.region]
    # no --region (or --auto): regions are left out and the worker detects the watermark
    if args.frame is not None:
        config["selected_frame"] = args.frame
    return _submit(ctx, args, "watermark_removal", config, [args.file])


def merge(args: argparse.Namespace, ctx: Context) -> int:
    return _submit(ctx, args, "video_merge", {}, args.files)


def generate(args: argparse.Namespace, ctx: Context) -> int:
    config: dict[str, Any] = {"prompt": args.prompt}
    optional = {"negative_prompt": args.negative_prompt, "width": args.width, "height": args.height, "seed": args.seed}
    if args.kind == "image":
        optional["count"] = args.count
    else:
        optional.update(duration_seconds=args.duration, fps=args.fps)
    config.update({k: v for k, v in optional.items() if v is not None})
    return _submit(ctx, args, f"{args.kind}_generation", config, [])


def _check_files(ctx: Context, files: list[Path]) -> None:
    """Refuse locally what the server would refuse only after a long upload."""
    for path in files:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror}") from None
    if not files:
        return
    limits = (ctx.api.info().data or {}).get("limits") or {}
    most = limits.get("max_upload_bytes")
    for path in files:
        if most and path.stat().st_size > most:
            raise UsageError(
                f"{path} is {format_bytes(path.stat().st_size)}; the server takes at most {format_bytes(most)} per file"
            )
    if len(files) > 1 and limits.get("merge_max_inputs") and len(files) > limits["merge_max_inputs"]:
        raise UsageError(f"The server merges at most {limits['merge_max_inputs']} files at once")


def _check_output(args: argparse.Namespace) -> None:
    """An -o that would be refused after the job ran is refused before it is submitted."""
    output = args.output
    if output is not None and output.is_file() and not args.force:
        raise UsageError(f"{output} already exists; use --force to replace it")


def _submit(ctx: Context, args: argparse.Namespace, task_type: str, config: dict[str, Any], files: list[Path]) -> int:
    _check_output(args)
    _check_files(ctx, files)

    def uploaded(done: int, total: int) -> None:
        ctx.line.show(transfer_line("uploading", done, total), key=done * 10 // max(total, 1))

    reply = ctx.api.submit(task_type, config, files, on_progress=uploaded)
    ctx.line.end()
    view = reply.data
    task_id = view["task_id"]
    if view.get("duplicate"):
        ctx.line.say(f"The same task was submitted moments ago; using it: {task_id}")
    else:
        ctx.line.say(f"Submitted {task_type} task {task_id} ({view.get('status')})")
    if args.wait or args.output is not None:
        return _wait(ctx, task_id, output=args.output, force=args.force, live=not args.poll)
    if ctx.json:
        emit_json(view)
    else:
        emit(task_id)
        ctx.line.say(f"Follow it with: mediacraft watch {task_id}")
    return OK


# --- following ------------------------------------------------------------------------------


def _wait(
    ctx: Context, task_id: str, *, output: Path | None, force: bool, live: bool, newer_than: int | None = None
) -> int:
    """Watch to the end, download when asked and completed, and report the outcome."""
    view = asyncio.run(watch_task(ctx.async_api(), task_id, ctx.line, live=live, newer_than=newer_than))
    code = exit_code_for(view)
    saved = (
        Downloader(ctx.api, task_id, ctx.line).run(output, force=force) if code == OK and output is not None else None
    )
    if ctx.json:
        emit_json({**view, "output": _saved_json(saved)} if saved else view)
    elif code == OK:
        emit(
            completed_text(view)
            + (f"; saved to {saved.path}" if saved else f"; get it with: mediacraft download {task_id}")
        )
    _report_end(ctx, view, code)
    return code


def _report_end(ctx: Context, view: dict[str, Any], code: int) -> None:
    """The task's own message on stderr when it did not complete (even with --quiet: it is the error)."""
    if code == OK:
        return
    status = str(view.get("status"))
    reason = failure_reason(view)
    error_code = (view.get("error") or {}).get("code")
    what = "failed" if code == TASK_FAILED else f"was {status}"
    ctx.line.end()
    message = f"error: task {view.get('task_id')} {what}" + (
        f": {reason}" if reason and reason.lower() != status else ""
    )
    sys.stderr.write(message + (f" [{error_code}]" if error_code else "") + "\n")


def watch(args: argparse.Namespace, ctx: Context) -> int:
    return _wait(ctx, args.task_id, output=args.output, force=args.force, live=not args.poll)


# --- managing -------------------------------------------------------------------------------


def status(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.api.status(args.task_id)
    if ctx.json:
        emit_json(view)
    else:
        emit(status_text(view, server_now=ctx.api.clock.now()))
    return OK


def list_tasks(args: argparse.Namespace, ctx: Context) -> int:
    params = {"status": args.status, "type": full_type(args.type), "limit": args.limit}
    page = ctx.api.list_tasks(**params)
    tasks, counts = list(page.get("tasks") or []), page.get("counts") or {}
    while args.all and page.get("next_cursor"):
        page = ctx.api.list_tasks(**params, cursor=page["next_cursor"])
        tasks.extend(page.get("tasks") or [])
    more = page.get("next_cursor")
    if ctx.json:
        emit_json({"tasks": tasks, "counts": counts, "next_cursor": more})
        return OK
    if not tasks:
        emit("No tasks.")
        return OK
    emit(tasks_table(tasks))
    summary = f"{len(tasks)} shown" + (f"; all tasks: {counts_text(counts)}" if counts else "")
    ctx.line.say(summary + ("; more with --all" if more else ""))
    return OK


def cancel(args: argparse.Namespace, ctx: Context) -> int:
    """Ask for the cancel; with --wait, follow the task to its end (0 only if it ended cancelled)."""
    view = ctx.api.cancel(args.task_id).data
    task_id = view["task_id"]
    if not args.wait or view.get("status") == "cancelled":  # a draft is cancelled at once
        if ctx.json:
            emit_json(view)
        else:
            emit(_cancel_text(view))
        return OK
    ctx.line.say(_cancel_text(view))
    final = asyncio.run(watch_task(ctx.async_api(), task_id, ctx.line, live=not args.poll))
    if ctx.json:
        emit_json(final)
    if final.get("status") == "cancelled":
        if not ctx.json:
            emit(f"Task {task_id} cancelled")
        return OK
    sys.stderr.write(f"error: task {task_id} ended {final.get('status')} before the cancel took effect\n")
    return API_ERROR


def _cancel_text(view: dict[str, Any]) -> str:
    if view.get("status") == "cancelled":
        return f"Task {view['task_id']} cancelled"
    return f"Cancel requested for task {view['task_id']} (it was {view.get('status')})"


def retry(args: argparse.Namespace, ctx: Context) -> int:
    """Ask for another run; with --wait (or -o), follow it like a new submission."""
    _check_output(args)
    view = ctx.api.retry(args.task_id).data
    task_id = view["task_id"]
    if args.wait or args.output is not None:
        ctx.line.say(f"Retry requested for task {task_id}")
        return _wait(
            ctx,
            task_id,
            output=args.output,
            force=args.force,
            live=not args.poll,
            newer_than=int(view.get("version") or 0),
        )
    if ctx.json:
        emit_json(view)
    else:
        emit(f"Retry requested for task {task_id}; follow it with: mediacraft watch {task_id}")
    return OK


def download(args: argparse.Namespace, ctx: Context) -> int:
    saved = Downloader(ctx.api, args.task_id, ctx.line).run(args.output, force=args.force)
    if ctx.json:
        emit_json({"task_id": args.task_id, **(_saved_json(saved) or {})})
        return OK
    if saved.already_complete:
        ctx.line.say(f"{saved.path} is already complete ({format_bytes(saved.size)})")
    elif saved.resumed_from:
        ctx.line.say(f"Resumed at {format_bytes(saved.resumed_from)}; saved {format_bytes(saved.size)}")
    emit(str(saved.path))
    return OK


def _saved_json(saved: Downloaded | None) -> dict[str, Any] | None:
    if saved is None:
        return None
    return {
        "path": str(saved.path),
        "size": saved.size,
        "resumed_from": saved.resumed_from,
        "already_complete": saved.already_complete,
    }


def info(args: argparse.Namespace, ctx: Context) -> int:
    reply = ctx.api.info()
    if ctx.json:
        emit_json(
            {
                **reply.data,
                "server": ctx.server,
                "api_version": reply.api_version,
                "identity_file": str(ctx.identity.path),
            }
        )
    else:
        emit(
            info_text(
                reply.data, server=ctx.server, api_version=reply.api_version, identity_path=str(ctx.identity.path)
            )
        )
    return OK
