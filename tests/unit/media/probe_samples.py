"""Hand-written ffprobe JSON for pure tests: a stream-level description of a clip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mediacraft.shared.media import ProbeResult, parse_ffprobe
from mediacraft.shared.media.sniff import MP4, ContainerFormat


def video_json(**over: Any) -> dict[str, Any]:
    stream = {
        "index": 0,
        "codec_type": "video",
        "codec_name": "h264",
        "profile": "High",
        "level": 31,
        "width": 1280,
        "height": 720,
        "pix_fmt": "yuv420p",
        "sample_aspect_ratio": "1:1",
        "r_frame_rate": "30/1",
        "avg_frame_rate": "30/1",
        "time_base": "1/15360",
        "field_order": "progressive",
        "extradata_hash": "SHA256:v",
        "duration": "2.000000",
        "nb_frames": "60",
        "disposition": {"attached_pic": 0},
    }
    stream.update(over)
    return {k: v for k, v in stream.items() if v is not None}


def audio_json(**over: Any) -> dict[str, Any]:
    stream = {
        "index": 1,
        "codec_type": "audio",
        "codec_name": "aac",
        "profile": "LC",
        "sample_rate": "48000",
        "channels": 2,
        "channel_layout": "stereo",
        "sample_fmt": "fltp",
        "time_base": "1/48000",
        "extradata_hash": "SHA256:a",
        "duration": "2.000000",
    }
    stream.update(over)
    return {k: v for k, v in stream.items() if v is not None}


def probe_of(
    *streams: dict[str, Any],
    duration: str | None = "2.000000",
    name: str = "clip.mp4",
    container: ContainerFormat = MP4,
    start_time: str | None = None,
) -> ProbeResult:
    fmt = {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "nb_streams": len(streams)}
    if duration is not None:
        fmt["duration"] = duration
    if start_time is not None:
        fmt["start_time"] = start_time
    data = {"streams": list(streams), "format": fmt}
    return parse_ffprobe(data, path=Path("/job") / name, container=container, size=1000)


def clip(
    video: dict[str, Any] | None = None,
    audio: dict[str, Any] | None = None,
    *,
    silent: bool = False,
    name: str = "clip.mp4",
    duration: str = "2.000000",
    start_time: str | None = None,
) -> ProbeResult:
    streams = [video_json(**(video or {}))]
    if not silent:
        streams.append(audio_json(**(audio or {})))
    return probe_of(*streams, duration=duration, name=name, start_time=start_time)
