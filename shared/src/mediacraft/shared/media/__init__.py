"""Safe handling of untrusted media: the one module every worker and the gateway's upload check use.

Rules it enforces, so that callers cannot forget them:

1. Only local files: inputs are downloaded into the job directory first; ffmpeg never gets a URL.
2. The real container is recognised from its bytes (`sniff`), never from the name: MP4/MOV,
   Matroska/WebM, JPEG, PNG and WebP are accepted; HTML, HLS/PLS playlists, ffconcat lists and
   everything else are refused (`unsupported_format`) before ffprobe runs.
3. ffprobe and ffmpeg open inputs with `-protocol_whitelist file,pipe`, `-format_whitelist` and
   `-f` set to the sniffed demuxer, so a file cannot make them open a URL or another file.
4. Limits (`MediaLimits`) are checked on the declared streams before anything is decoded.
5. ffmpeg runs from an argument list (never a shell), with `-nostdin`, in its own process group,
   with a wall-clock timeout, an output size limit and cancel (terminate, then kill after a grace
   period), and partial outputs removed on any failure.

Typical use in a processor (a thread, as the worker contract says):

    from mediacraft.shared.media import MediaLimits, probe_media, run_ffmpeg

    limits = MediaLimits()
    src = probe_media(ctx.inputs[0], limits)              # ProbeResult, or InvalidInput raised
    out = ctx.workdir / "out.mp4"
    run_ffmpeg([*src.input_args(limits=limits), "-c:v", "libx264", str(out)],
               outputs=[out], total_duration=src.duration, cancel_event=ctx.cancel_event,
               on_progress=lambda p: ctx.report(p.fraction or 0.0, "encoding"))

In the gateway (async): `await asyncio.to_thread(probe_media, path, limits)`; `sniff_bytes(head)`
can refuse an upload from its first chunk. Error codes are listed in `media.errors`; each
module's docstring describes its part: `limits`, `sniff`, `probe`, `ffmpeg`.
"""

from mediacraft.shared.media.errors import (
    FileTooLarge,
    FrameRateTooHigh,
    InvalidMedia,
    LocalResourceError,
    MediaTooLarge,
    MediaTooLong,
    MediaToolUnavailable,
    OutputTooLarge,
    ProcessingTimeout,
    TooManyStreams,
    UnsupportedFormat,
)
from mediacraft.shared.media.ffmpeg import (
    FfmpegProcess,
    FfmpegProgress,
    FfmpegResult,
    ProgressParser,
    run_ffmpeg,
)
from mediacraft.shared.media.limits import MediaLimits
from mediacraft.shared.media.probe import (
    PROTOCOL_WHITELIST,
    AudioStream,
    ProbeResult,
    VideoStream,
    check_limits,
    file_url,
    parse_ffprobe,
    probe_media,
    read_ffprobe,
)
from mediacraft.shared.media.sniff import (
    MATROSKA,
    MP4,
    SUPPORTED_FORMATS,
    ContainerFormat,
    sniff_bytes,
    sniff_file,
)

__all__ = [
    "MATROSKA",
    "MP4",
    "PROTOCOL_WHITELIST",
    "SUPPORTED_FORMATS",
    "AudioStream",
    "ContainerFormat",
    "FfmpegProcess",
    "FfmpegProgress",
    "FfmpegResult",
    "FileTooLarge",
    "FrameRateTooHigh",
    "InvalidMedia",
    "LocalResourceError",
    "MediaLimits",
    "MediaTooLarge",
    "MediaTooLong",
    "MediaToolUnavailable",
    "OutputTooLarge",
    "ProbeResult",
    "ProcessingTimeout",
    "ProgressParser",
    "TooManyStreams",
    "UnsupportedFormat",
    "VideoStream",
    "check_limits",
    "file_url",
    "parse_ffprobe",
    "probe_media",
    "read_ffprobe",
    "run_ffmpeg",
    "sniff_bytes",
    "sniff_file",
]
