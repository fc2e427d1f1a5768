"""The typed errors of media handling, each with a stable `code` that clients may rely on.

Bad input is an `InvalidInput` (never retried); a transient local failure is a `RetryableError`;
a cancelled job raises `JobCancelledError` from the worker contract. Messages are written for the
person who uploaded the file: they say what was wrong, never a server path.
"""

from __future__ import annotations

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
    """The worker ran out of disk, memory or processes, or ffmpeg was killed from outside."""

    code = "local_resource_error"


class MediaToolUnavailable(MediaCraftError):
    """ffmpeg or ffprobe is not installed: a deployment fault, not the user's."""

    code = "media_tool_unavailable"
