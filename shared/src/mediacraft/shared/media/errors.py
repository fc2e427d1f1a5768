"""The typed errors of media handling, each with a stable `code` that clients may rely on.

Bad input is an `InvalidInput` (never retried); a transient local failure is a `RetryableError`;
a cancelled job raises `JobCancelledError` from the worker contract. Messages are written for the
person who uploaded the file: they say what was wrong, never a server path.
"""

from __future__ import annotations

import errno
import signal

from mediacraft.shared.errors import InvalidInput, MediaCraftError, RetryableError


class UnsupportedFormat(InvalidInput):
    """The bytes are not a container we accept (HTML, playlists, concat lists, anything else)."""

    code = "unsupported_format"


class InvalidMedia(InvalidInput):
    """A supported container that is truncated, corrupt or unreadable."""

    code = "invalid_media"
    detail = ""  # ffmpeg's stderr tail when it failed: for logs, never shown to users


class FileTooLarge(InvalidInput):
    """The file has more bytes than the limit."""

    code = "file_too_large"


class MediaTooLarge(InvalidInput):
    """A video stream declares more width, height or pixels than the limits."""

    code = "media_too_large"


class MediaTooLong(InvalidInput):
    """The media declares a duration above the limit."""

    code = "media_too_long"


class TooManyStreams(InvalidInput):
    """The container declares more streams than the limit."""

    code = "too_many_streams"


class FrameRateTooHigh(InvalidInput):
    """A video stream declares a frame rate above the limit."""

    code = "frame_rate_too_high"


class OutputTooLarge(InvalidInput):
    """ffmpeg's output grew past the configured size limit."""

    code = "output_too_large"


class ProcessingTimeout(RetryableError):
    """ffmpeg ran past its wall-clock limit; retried because load, not the input, is the usual cause."""

    code = "processing_timeout"


class LocalResourceError(RetryableError):
    """The worker ran out of disk, memory or processes, or ffmpeg was killed from outside.

    The subclasses below name the cause; each is retryable at any stage of a job (download,
    probe, processing, upload): a fault of the machine, not of the input.
    """

    code = "local_resource_error"


class DiskFull(LocalResourceError):
    """No space left on the scratch disk (or over a disk quota)."""

    code = "disk_full"


class LocalIOError(LocalResourceError):
    """The disk answered a read or write with an I/O error."""

    code = "io_error"


class OutOfMemory(LocalResourceError):
    """An allocation failed in the worker or a tool it ran."""

    code = "out_of_memory"


class TooManyOpenFiles(LocalResourceError):
    """The process or the system ran out of file descriptors (or of processes)."""

    code = "too_many_open_files"


class ToolKilled(LocalResourceError):
    """A tool (ffmpeg, ffprobe) was killed by a signal from outside: the OOM killer, an operator."""

    code = "tool_killed"


_BY_ERRNO: dict[int, type[LocalResourceError]] = {
    errno.ENOSPC: DiskFull,
    errno.EDQUOT: DiskFull,
    errno.EIO: LocalIOError,
    errno.ENOMEM: OutOfMemory,
    errno.EMFILE: TooManyOpenFiles,
    errno.ENFILE: TooManyOpenFiles,
    errno.EAGAIN: TooManyOpenFiles,  # fork or thread creation refused: out of processes
}

# the text a tool prints for each cause (strerror of the errno), checked in its stderr
_BY_TEXT: tuple[tuple[str, type[LocalResourceError]], ...] = (
    ("No space left on device", DiskFull),
    ("Disk quota exceeded", DiskFull),
    ("Input/output error", LocalIOError),
    ("Cannot allocate memory", OutOfMemory),
    ("Too many open files", TooManyOpenFiles),
    ("Resource temporarily unavailable", TooManyOpenFiles),
)

# signals that come from outside the tool (the OOM killer, an operator, a stopping container); a
# crash of the tool itself (SIGSEGV, SIGABRT) is left to the caller: usually the input caused it
OUTSIDE_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})


def local_cause(exc: BaseException) -> LocalResourceError | None:
    """The retryable cause error for a fault of the machine (`exc`, or what caused it), else None.

    Its message names the cause for the logs; no path or file name from `exc` is kept.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, LocalResourceError):
            return current
        if isinstance(current, MemoryError):
            return OutOfMemory("the worker ran out of memory")
        if isinstance(current, OSError) and current.errno in _BY_ERRNO:
            kind = _BY_ERRNO[current.errno]
            return kind(f"{type(current).__name__}: {current.strerror or kind.code}")
        current = current.__cause__ or current.__context__
    return None


def cause_in_text(text: str) -> type[LocalResourceError] | None:
    """The cause a tool's error output names (its strerror text), else None."""
    for marker, kind in _BY_TEXT:
        if marker in text:
            return kind
    return None


def killed_by(returncode: int) -> ToolKilled | None:
    """ToolKilled when a tool's exit status says a signal from outside stopped it, else None."""
    if returncode >= 0:
        return None
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return None
    if sig not in OUTSIDE_SIGNALS:
        return None
    return ToolKilled(f"stopped by {sig.name}" + (" (the out-of-memory killer?)" if sig == signal.SIGKILL else ""))


class MediaToolUnavailable(MediaCraftError):
    """ffmpeg or ffprobe is not installed: a deployment fault, not the user's."""

    code = "media_tool_unavailable"
