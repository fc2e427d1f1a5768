"""How both methods encode their output, so that results (and the benchmark's floor) compare.

libx264 `veryfast` at CRF 20 (the merge worker's normalising encode uses the same): fast on a
2-core worker, at a quality where the re-encoded, untouched part of the frame is hard to tell from
the source. The output is an MP4 written to a local file with `+faststart` (an MP4 cannot be
streamed to a pipe without fragmenting it), so that players can start it before it has fully
downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mediacraft.shared.media import AudioStream, VideoStream

# Audio codecs an MP4 holds as they are; anything else is re-encoded to AAC rather than refused.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus"})
_UNSET_COLOUR = frozenset({None, "", "unknown", "unspecified", "reserved"})


@dataclass(frozen=True)
class EncoderSettings:
    """Video encoder parameters shared by both methods and by the benchmark's floor."""

    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: str = "160k"  # used only when the source audio cannot be copied into MP4

    def video_args(self) -> list[str]:
        """Output arguments for the video stream."""
        return ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p"]

    def audio_args(self, streams: Sequence[AudioStream]) -> list[str]:
        """Copy the audio when MP4 can hold every track, else encode AAC; nothing without audio."""
        if not streams:
            return []
        if all(a.codec in MP4_AUDIO_CODECS for a in streams):
            return ["-c:a", "copy"]
        return ["-c:a", "aac", "-b:a", self.audio_bitrate]

    def container_args(self) -> list[str]:
        """MP4 with the index up front."""
        return ["-movflags", "+faststart", "-f", "mp4"]


def even_crop(width: int, height: int) -> str | None:
    """A crop filter that drops the last odd column/row (x264 needs even 4:2:0 sizes), if needed."""
    if width % 2 == 0 and height % 2 == 0:
        return None
    return f"crop={width - width % 2}:{height - height % 2}:0:0"


def colour_args(video: VideoStream) -> list[str]:
    """Tag raw-frame output with the source's colour description, which raw frames do not carry.

    The range is always limited ("tv"): the decoder converts full-range sources to it.
    """
    args = ["-color_range", "tv"]
    for option, value in (
        ("-colorspace", video.color_space),
        ("-color_primaries", video.color_primaries),
        ("-color_trc", video.color_transfer),
    ):
        if value not in _UNSET_COLOUR:
            args += [option, str(value)]
    return args
