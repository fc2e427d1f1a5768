"""`mediacraft`: argument parsing, the command table, and how failures become exit statuses."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from mediacraft.cli import __version__, commands
from mediacraft.cli.api import describe
from mediacraft.cli.context import DEFAULT_SERVER, Context, normalize_server
from mediacraft.cli.errors import API_ERROR, INTERRUPTED, UNREACHABLE, ApiError, CliError
from mediacraft.cli.identity import IdentityFile, default_identity_path
from mediacraft.cli.output import emit_json

Command = Callable[[argparse.Namespace, Context], int]

EPILOG = """\
exit status: 0 done; 1 the server refused the request; 2 bad arguments or local files;
3 the task failed; 4 the task was cancelled or expired; 5 the server could not be reached
or a transfer broke off; 130 interrupted (the task keeps running on the server).
"""


def region(text: str) -> tuple[int, int, int, int]:
    """`x,y,w,h` in pixels of the video frame."""
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (four integers), got {text!r}")
    return values


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    # Options every subcommand also accepts after its name (`mediacraft list --json`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON on stdout"
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress or chatter on stderr (errors still)",
    )
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument("--wait", action="store_true", help="follow the task until it ends")
    waiting.add_argument(
        "-o", "--output", type=Path, help="when it completes, download the result here (implies --wait)"
    )
    waiting.add_argument("--force", action="store_true", help="replace an existing output file")
    waiting.add_argument("--poll", action="store_true", help="poll status instead of the live event stream")

    parser = argparse.ArgumentParser(
        prog="mediacraft",
        description="Submit and follow MediaCraft tasks over its HTTP API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("MEDIACRAFT_SERVER") or DEFAULT_SERVER,
        help="API base URL (default: $MEDIACRAFT_SERVER or %(default)s)",
    )
    parser.add_argument(
        "--identity",
        type=Path,
        default=None,
        help="identity file (default: $MEDIACRAFT_IDENTITY_FILE or ~/.config/mediacraft/identity.json)",
    )
    parser.add_argument("--json", action="store_true", default=False, help="print machine-readable JSON on stdout")
    parser.add_argument("-q", "--quiet", action="store_true", default=False, help="no progress or chatter on stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("watermark", parents=[common, waiting], help="remove a watermark from a video")
    p.add_argument("file", type=Path)
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--region",
        type=region,
        action="append",
        default=None,
        metavar="X,Y,W,H",
        help="a box to clean, in frame pixels (repeat for several); without any, the watermark is detected",
    )
    where.add_argument(
        "--auto",
        action="store_true",
        default=False,
        help="let the service find the watermark (the same as giving no --region)",
    )
    p.add_argument(
        "--method",
        choices=sorted(commands.METHODS),
        default="quality",
        help="quality/auto: recover, fill from other frames or inpaint per region (default); "
        "inpaint: OpenCV inpainting; speed/delogo: ffmpeg delogo",
    )
    p.add_argument("--frame", type=int, default=None, help="the frame the regions were picked on")
    p.set_defaults(run=commands.watermark)

    p = sub.add_parser("merge", parents=[common, waiting], help="join videos in the order given")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.set_defaults(run=commands.merge)

    p = sub.add_parser("generate", parents=[common, waiting], help="generate an image or a video from a prompt")
    p.add_argument("kind", choices=["image", "video"])
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt")
    p.add_argument("--width", type=positive)
    p.add_argument("--height", type=positive)
    p.add_argument("--duration", type=float, help="seconds (video)")
    p.add_argument("--fps", type=positive, help="frames per second (video)")
    p.add_argument("--count", type=positive, help="how many images (image)")
    p.add_argument("--seed", type=int)
    p.set_defaults(run=commands.generate)

    p = sub.add_parser("watch", parents=[common], help="follow a task with a progress bar until it ends")
    p.add_argument("task_id")
    p.add_argument("-o", "--output", type=Path, help="when it completes, download the result here")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--poll", action="store_true", help="poll status instead of the live event stream")
    p.set_defaults(run=commands.watch)

    p = sub.add_parser("list", parents=[common], help="your tasks, newest first")
    p.add_argument("--status", help="statuses or groups (draft, active, terminal), comma-separated")
    p.add_argument("--type", help="watermark, merge, image, video (or the full type name)")
    p.add_argument("--limit", type=positive, default=20, help="tasks per page (default %(default)s, at most 100)")
    p.add_argument("--all", action="store_true", help="every page, not only the first")
    p.set_defaults(run=commands.list_tasks)

    p = sub.add_parser("status", parents=[common], help="a task's details")
    p.add_argument("task_id")
    p.set_defaults(run=commands.status)

    p = sub.add_parser("cancel", parents=[common], help="cancel a waiting or running task")
    p.add_argument("task_id")
    p.add_argument("--wait", action="store_true", help="follow the task until the cancel took effect")
    p.add_argument("--poll", action="store_true", help="poll status instead of the live event stream")
    p.set_defaults(run=commands.cancel)

    p = sub.add_parser("retry", parents=[common, waiting], help="run a failed or cancelled task again")
    p.add_argument("task_id")
    p.set_defaults(run=commands.retry)

    p = sub.add_parser("download", parents=[common], help="save a result (resumes a partial download)")
    p.add_argument("task_id")
    p.add_argument("-o", "--output", type=Path, help="file or directory (default: the server's file name, here)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(run=commands.download)

    p = sub.add_parser("info", parents=[common], help="your identity, task counts and the server's limits")
    p.set_defaults(run=commands.info)
    return parser


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations argparse cannot express."""
    if args.command == "merge" and len(args.files) < 2:
        parser.error("merge needs at least two files")
    if args.command == "generate":
        if args.kind == "image" and (args.duration is not None or args.fps is not None):
            parser.error("--duration and --fps apply to videos")
        if args.kind == "video" and args.count is not None:
            parser.error("--count applies to images")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (see EPILOG)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check(parser, args)
    ctx: Context | None = None
    try:
        server = normalize_server(args.server)
        identity = IdentityFile(args.identity.expanduser() if args.identity else default_identity_path())
        ctx = Context.build(server, identity, json=args.json, quiet=args.quiet)
        return int(args.run(args, ctx))
    except ApiError as err:
        return fail(ctx, args.json, f"error: {err.message} [{err.error_code}]", err.exit_code, err.to_json())
    except CliError as err:
        return fail(ctx, args.json, f"error: {err.message}", err.exit_code)
    except httpx.TransportError as exc:
        return fail(ctx, args.json, f"error: the connection to the server failed: {describe(exc)}", UNREACHABLE)
    except BrokenPipeError:
        # the reader went away (`mediacraft list | head -1`): nothing more to say, and say it quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return API_ERROR
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        return fail(ctx, args.json, f"error: {exc.strerror or exc}{where}", API_ERROR)
    except KeyboardInterrupt:
        return fail(ctx, False, "interrupted; a submitted task keeps running on the server", INTERRUPTED)
    finally:
        if ctx is not None:
            ctx.close()


def fail(ctx: Context | None, json_mode: bool, message: str, code: int, doc: dict[str, Any] | None = None) -> int:
    """Report on stderr (and as JSON on stdout in --json mode); returns the exit status."""
    if ctx is not None:
        ctx.line.end()
    sys.stderr.write(message + "\n")
    if json_mode:
        emit_json(
            doc
            or {
                "success": False,
                "code": None,
                "message": message.removeprefix("error: "),
                "error_code": "client_error",
            }
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
