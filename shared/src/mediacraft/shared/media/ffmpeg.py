"""Run ffmpeg on untrusted media under watch: cancel, timeout, output size, progress, cleanup.

The simple case blocks until ffmpeg ends:

    probed = probe_media(src, limits)
    result = run_ffmpeg(
        [*probed.input_args(limits=limits), "-c:v", "libx264", "-movflags", "+faststart", str(out)],
        outputs=[out],                       # removed if the run fails or is cancelled
        total_duration=probed.duration,      # turns out_time into a fraction for on_progress
        on_progress=lambda p: ctx.report(p.fraction or 0.0, "encoding"),
        cancel_event=ctx.cancel_event,       # set it to stop ffmpeg (terminate, kill after grace)
        timeout=600, max_output_bytes=2 * 1024**3,
    )

A pipeline that feeds or drains ffmpeg through pipes holds an `FfmpegProcess` open instead:

    with FfmpegProcess(args, stdout=subprocess.PIPE, cancel_event=ev, outputs=[]) as decoder:
        while frame := decoder.stdout.read(frame_bytes): ...
        decoder.wait()                       # raises the typed error, if any

Leaving the `with` block waits for ffmpeg. If the block raises (typically a broken pipe after
a cancel stopped ffmpeg), ffmpeg is stopped and the typed reason (JobCancelledError, ...) is
raised in place of the pipe error. `wait()` closes a `stdin=PIPE` first, so call it after the
last write; `stop()` aborts ffmpeg from any thread.

`args` are the ffmpeg arguments after the global ones: the runner itself prepends `ffmpeg
-nostdin -hide_banner -nostats -loglevel error -y -progress pipe:N` (N is a private pipe, so
stdin and stdout stay free for data) and `-xerror` when asked. Open every untrusted input with
`ProbeResult.input_args()`, which forces the probed demuxer and sets the protocol and format
whitelists; raw frames from the worker itself may use `-f rawvideo -i pipe:0`.

ffmpeg runs in its own process group, so that stopping it also stops anything it started. On
cancel, timeout, output overflow or a failing progress callback the group gets SIGTERM, then
SIGKILL after `grace` seconds (default 1 s); the listed outputs are removed. `memory_limit`
caps ffmpeg's heap (RLIMIT_DATA, bytes). Errors (`media.errors`, subclasses of the shared
`InvalidInput` / `RetryableError`), each with a stable code:

- `JobCancelledError` (`cancelled`): `cancel_event` was set while ffmpeg ran.
- `ProcessingTimeout` (`processing_timeout`, retryable): ran longer than `timeout` seconds.
- `OutputTooLarge` (`output_too_large`): outputs grew past `max_output_bytes` (checked every
  `poll_interval`, so a fast writer may overshoot by that much).
- `LocalResourceError` subclasses, retryable, by cause: `disk_full`, `io_error`, `out_of_memory`,
  `too_many_open_files` (from ffmpeg's error text), `tool_killed` (killed or stopped by someone
  else: the OOM killer, an operator).
- `InvalidMedia` (`invalid_media`): any other non-zero exit, with ffmpeg's last error line.
- `MediaToolUnavailable`: ffmpeg is not installed.

Progress callbacks run on a reader thread; keep them short. An exception raised by one stops
ffmpeg and is re-raised by `wait()`.
"""

from __future__ import annotations

import collections
import io
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mediacraft.shared.media.errors import (
    InvalidMedia,
    LocalIOError,
    LocalResourceError,
    MediaToolUnavailable,
    OutputTooLarge,
    ProcessingTimeout,
    ToolKilled,
    cause_in_text,
    killed_by,
    local_cause,
)
from mediacraft.shared.media.probe import last_error_line, limit_memory
from mediacraft.shared.worker.contract import JobCancelledError

FFMPEG = "ffmpeg"
DEFAULT_GRACE = 1.0
_STDERR_KEEP = 64 * 1024


@dataclass(frozen=True)
class FfmpegProgress:
    """One `-progress` block: position in the output, and a fraction when the total is known."""

    out_time: float  # seconds written, never negative
    frame: int | None = None
    speed: float | None = None
    total_size: int | None = None
    done: bool = False  # ffmpeg wrote `progress=end`
    fraction: float | None = None  # out_time / total_duration, clamped to 0..1


@dataclass(frozen=True)
class FfmpegResult:
    """A finished run: exit code 0, the wall time, the last progress and ffmpeg's stderr tail."""

    returncode: int
    elapsed: float
    progress: FfmpegProgress | None
    stderr: str


class ProgressParser:
    """Turn `-progress` lines (`key=value`) into an FfmpegProgress at each `progress=` line."""

    def __init__(self, total_duration: float | None = None) -> None:
        self.total_duration = total_duration if total_duration and total_duration > 0 else None
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> FfmpegProgress | None:
        """Take one line; return a snapshot when it closes a block, else None."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        if key != "progress":
            self._fields[key.strip()] = value.strip()
            return None
        fields, self._fields = self._fields, {}
        out_time = _out_time_seconds(fields)
        fraction = None
        if self.total_duration:
            fraction = 1.0 if value.strip() == "end" else min(1.0, out_time / self.total_duration)
        return FfmpegProgress(
            out_time=out_time,
            frame=_to_int(fields.get("frame")),
            speed=_to_float(fields.get("speed", "").rstrip("x")),
            total_size=_to_int(fields.get("total_size")),
            done=value.strip() == "end",
            fraction=fraction,
        )


class FfmpegProcess:
    """One ffmpeg under watch; use as a context manager, or `start()` then `wait()`."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        outputs: Iterable[Path] = (),
        total_duration: float | None = None,
        on_progress: Callable[[FfmpegProgress], None] | None = None,
        cancel_event: threading.Event | None = None,
        timeout: float | None = None,
        max_output_bytes: int | None = None,
        grace: float = DEFAULT_GRACE,
        xerror: bool = False,
        stdin: int | IO[bytes] | None = None,
        stdout: int | IO[bytes] | None = None,
        memory_limit: int | None = None,
        ffmpeg: str = FFMPEG,
        poll_interval: float = 0.05,
    ) -> None:
        self.args = list(args)
        self._memory_limit = memory_limit
        self.outputs = [Path(p) for p in outputs]
        self._parser = ProgressParser(total_duration)
        self._on_progress = on_progress
        self._cancel = cancel_event or threading.Event()
        self._timeout = timeout
        self._max_output_bytes = max_output_bytes
        self._grace = grace
        self._xerror = xerror
        self._stdin = subprocess.DEVNULL if stdin is None else stdin
        self._stdout = subprocess.DEVNULL if stdout is None else stdout
        self._ffmpeg = ffmpeg
        self._poll = poll_interval
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._reason: str | None = None  # why we stopped it: cancel, timeout, output, callback, stop
        self._callback_error: BaseException | None = None
        self._last: FfmpegProgress | None = None
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_len = 0
        self._threads: list[threading.Thread] = []
        self._started_at = 0.0
        self._returncode: int | None = None
        self._finished = threading.Event()
        self._wake = threading.Event()  # stop() pokes the watcher; cancel_event is polled
        self._result: FfmpegResult | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FfmpegProcess:
        """Spawn ffmpeg in a new process group and start watching it."""
        read_fd, write_fd = os.pipe()
        command = [
            self._ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-y",
            "-progress",
            f"pipe:{write_fd}",
            *(["-xerror"] if self._xerror else []),
            *self.args,
        ]
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=self._stdin,
                stdout=self._stdout,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            os.close(read_fd)
            raise MediaToolUnavailable(f"{self._ffmpeg} is not installed") from exc
        except OSError as exc:
            os.close(read_fd)
            cause = local_cause(exc)
            if cause is None:
                raise LocalResourceError(f"could not start ffmpeg: {exc.strerror}") from exc
            raise cause from exc
        finally:
            os.close(write_fd)
        if self._memory_limit is not None:
            limit_memory(self._proc.pid, self._memory_limit)
        self._started_at = time.monotonic()
        self._spawn(self._read_progress, os.fdopen(read_fd, "rb"))
        self._spawn(self._read_stderr, self._proc.stderr)
        self._spawn(self._watch)
        return self

    def __enter__(self) -> FfmpegProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.wait()
            return
        # The body failed (often a broken pipe because we stopped ffmpeg): stop it, and report
        # the typed reason we stopped it for rather than the pipe error it caused.
        self._request_stop("aborted")
        self._finished.wait()
        self._remove_outputs()
        typed = self._typed_error()
        if typed is not None:
            raise typed from exc

    @property
    def pid(self) -> int:
        """Process id of ffmpeg, which is also its process group id."""
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def stdin(self) -> IO[bytes] | None:
        return self._proc.stdin if self._proc else None

    @property
    def stdout(self) -> IO[bytes] | None:
        return self._proc.stdout if self._proc else None

    def stop(self, reason: str = "stop") -> None:
        """Abort ffmpeg: SIGTERM to its group now, SIGKILL after the grace period.

        With the default reason `wait()` then raises JobCancelledError and removes the outputs.
        `reason="aborted"` is for a caller that has its own error to raise: leaving the `with`
        block with that error raises it unchanged, and `wait()` reports only ffmpeg's exit.
        """
        self._request_stop(reason)

    def wait(self) -> FfmpegResult:
        """Close stdin if it is our pipe, block until ffmpeg ends; return or raise the typed error."""
        if self._result is not None:
            return self._result
        if self.stdin is not None:
            _close_quietly(self.stdin)
        self._finished.wait()
        typed = self._typed_error()
        if typed is None and self._returncode != 0:
            typed = self._exit_error()
        if typed is None and self._outputs_too_large():
            typed = OutputTooLarge(self._output_message())
        if typed is None:
            typed = self._write_error()
        if typed is not None:
            self._remove_outputs()
            raise typed
        self._result = FfmpegResult(
            returncode=0,
            elapsed=time.monotonic() - self._started_at,
            progress=self._last,
            stderr=self.stderr_text(),
        )
        return self._result

    def stderr_text(self) -> str:
        """What ffmpeg has written to stderr so far (the last 64 KiB)."""
        with self._lock:
            return b"".join(self._stderr).decode("utf-8", "replace")

    # -- threads -----------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"ffmpeg-{target.__name__}")
        thread.start()
        self._threads.append(thread)

    def _watch(self) -> None:
        assert self._proc is not None
        kill_at: float | None = None
        while not self._exited():
            now = time.monotonic()
            reason = self._due_reason(now)
            if reason is not None and kill_at is None:
                self._signal(signal.SIGTERM)
                kill_at = now + self._grace
            elif kill_at is not None and now >= kill_at:
                self._signal(signal.SIGKILL)
                kill_at = float("inf")
            if kill_at is None:
                self._wake.wait(self._poll)
            else:
                time.sleep(self._poll)
        # The leader is a zombie until reaped, so its group id cannot be reused: safe to sweep.
        self._signal(signal.SIGKILL)
        self._returncode = self._proc.wait()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self._finished.set()

    def _due_reason(self, now: float) -> str | None:
        with self._lock:
            if self._reason is None:
                if self._cancel.is_set():
                    self._reason = "cancel"
                elif self._timeout is not None and now - self._started_at > self._timeout:
                    self._reason = "timeout"
                elif self._outputs_too_large():
                    self._reason = "output"
            return self._reason

    def _read_progress(self, pipe: IO[bytes]) -> None:
        with pipe:
            for raw in pipe:
                snapshot = self._parser.feed(raw.decode("utf-8", "replace"))
                if snapshot is None:
                    continue
                self._last = snapshot
                if self._on_progress is None or self._callback_error is not None:
                    continue
                try:
                    self._on_progress(snapshot)
                except BaseException as exc:  # re-raised by wait(), after ffmpeg is stopped
                    self._callback_error = exc
                    self._request_stop("callback")

    def _read_stderr(self, pipe: io.BufferedReader) -> None:
        # Popen's pipes are buffered readers (default bufsize): read1 returns what has arrived
        with pipe:
            for chunk in iter(lambda: pipe.read1(4096), b""):
                with self._lock:
                    self._stderr.append(chunk)
                    self._stderr_len += len(chunk)
                    while self._stderr_len > _STDERR_KEEP and len(self._stderr) > 1:
                        self._stderr_len -= len(self._stderr.popleft())

    # -- helpers -----------------------------------------------------------------------------

    def _request_stop(self, reason: str) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = reason
        self._wake.set()

    def _exited(self) -> bool:
        assert self._proc is not None
        try:
            # WNOWAIT leaves the zombie in place, so the group id stays ours until we reap it.
            return os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _outputs_total(self) -> int:
        total = 0
        for path in self.outputs:
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def _outputs_too_large(self) -> bool:
        return self._max_output_bytes is not None and self._outputs_total() > self._max_output_bytes

    def _output_message(self) -> str:
        return f"the output grew past the limit of {self._max_output_bytes} bytes"

    def _remove_outputs(self) -> None:
        for path in self.outputs:
            path.unlink(missing_ok=True)

    def _typed_error(self) -> BaseException | None:
        reason = self._reason
        if reason == "cancel":
            return JobCancelledError("the job was cancelled")
        if reason == "timeout":
            return ProcessingTimeout(f"ffmpeg ran longer than the limit of {self._timeout:g} s")
        if reason == "output":
            return OutputTooLarge(self._output_message())
        if reason == "callback":
            return self._callback_error
        if reason == "aborted":
            return None
        if reason == "stop":
            return JobCancelledError("ffmpeg was stopped")
        return None

    def _write_error(self) -> BaseException | None:
        """A failed write that ffmpeg reported and still exited 0 for (some muxers only log an
        error writing their trailer): the output is incomplete, so the job must not succeed."""
        stderr = self.stderr_text()
        if "Error writing trailer" not in stderr and "Error closing file" not in stderr:
            return None
        cause = cause_in_text(stderr)
        if cause is not None:
            return cause(f"ffmpeg could not finish its output: {last_error_line(stderr)}")
        return LocalIOError(f"ffmpeg could not finish its output: {last_error_line(stderr)}")

    def _exit_error(self) -> BaseException:
        stderr = self.stderr_text()
        code = self._returncode or 0
        killed = killed_by(code)
        if killed is not None:
            return ToolKilled(f"ffmpeg was {killed.message}")
        # ffmpeg exits 255 after SIGTERM/SIGINT: someone outside stopped it, not the input.
        if code == 255:
            return ToolKilled("ffmpeg was stopped from outside the worker")
        cause = cause_in_text(stderr)
        if cause is not None:
            return cause(f"ffmpeg ran out of a local resource: {last_error_line(stderr)}")
        error = InvalidMedia(f"the media could not be processed: {last_error_line(stderr)}")
        error.detail = stderr
        return error


def run_ffmpeg(
    args: Sequence[str],
    *,
    outputs: Iterable[Path] = (),
    total_duration: float | None = None,
    on_progress: Callable[[FfmpegProgress], None] | None = None,
    cancel_event: threading.Event | None = None,
    timeout: float | None = None,
    max_output_bytes: int | None = None,
    grace: float = DEFAULT_GRACE,
    xerror: bool = False,
    memory_limit: int | None = None,
    ffmpeg: str = FFMPEG,
) -> FfmpegResult:
    """Run ffmpeg to completion under FfmpegProcess's watch; see the module docstring."""
    process = FfmpegProcess(
        args,
        outputs=outputs,
        total_duration=total_duration,
        on_progress=on_progress,
        cancel_event=cancel_event,
        timeout=timeout,
        max_output_bytes=max_output_bytes,
        grace=grace,
        xerror=xerror,
        memory_limit=memory_limit,
        ffmpeg=ffmpeg,
    )
    with process:
        return process.wait()


def _out_time_seconds(fields: dict[str, str]) -> float:
    """out_time_us, else out_time_ms (also microseconds, an old ffmpeg quirk), else out_time."""
    for key in ("out_time_us", "out_time_ms"):
        value = _to_int(fields.get(key))
        if value is not None:
            return max(0.0, value / 1_000_000)
    return max(0.0, _clock_seconds(fields.get("out_time")))


def _clock_seconds(value: str | None) -> float:
    if not value or value == "N/A":
        return 0.0
    sign = -1.0 if value.startswith("-") else 1.0
    try:
        hours, minutes, seconds = value.lstrip("-").split(":")
        return sign * (int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    except ValueError:
        return 0.0


def _to_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _to_float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _close_quietly(stream: IO[bytes]) -> None:
    try:
        stream.close()
    except OSError:
        pass
