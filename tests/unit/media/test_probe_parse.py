"""ffprobe JSON into ProbeResult and MediaInfo, and the limits applied to it."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mediacraft.shared.media import MediaLimits, check_limits
from mediacraft.shared.media.probe import last_error_line
from mediacraft.shared.media.sniff import MATROSKA
from tests.unit.media.probe_samples import audio_json, clip, probe_of, video_json


def test_streams_and_media_info_are_parsed() -> None:
    result = clip()
    video, audio = result.main_video, result.main_audio
    assert video is not None and audio is not None
    assert (video.codec, video.width, video.height, video.frame_rate, video.sar) == (
        "h264",
        1280,
        720,
        Fraction(30),
        Fraction(1),
    )
    assert (audio.codec, audio.sample_rate, audio.channels, audio.channel_layout) == ("aac", 48000, 2, "stereo")
    media = result.media
    assert (media.format_name, media.duration, media.width, media.height) == ("mp4", 2.0, 1280, 720)
    assert (media.frame_rate, media.frame_count, media.video_codec, media.audio_codec, media.has_audio) == (
        30.0,
        60,
        "h264",
        "aac",
        True,
    )


def test_rotated_video_reports_the_decoded_frame_size() -> None:
    side = [{"side_data_type": "Display Matrix", "rotation": -90}]
    result = probe_of(video_json(side_data_list=side), duration="2.0")
    assert result.main_video is not None and result.main_video.rotation == 270
    assert (result.media.width, result.media.height) == (720, 1280)


def test_display_size_applies_sample_aspect_ratio() -> None:
    result = probe_of(video_json(width=720, height=576, sample_aspect_ratio="16:15"))
    assert result.main_video is not None
    assert result.main_video.display_size == (768, 576)


def test_frame_count_is_estimated_when_the_container_has_none() -> None:
    result = probe_of(
        video_json(nb_frames=None, duration=None, avg_frame_rate="25/1"), duration="4.0", container=MATROSKA
    )
    assert result.media.frame_count == 100
    assert result.media.format_name == "matroska"


def test_cover_art_is_not_the_main_video() -> None:
    cover = video_json(index=0, codec_name="mjpeg", width=300, height=300, disposition={"attached_pic": 1})
    result = probe_of(cover, video_json(index=1), audio_json(index=2))
    assert result.main_video is not None and result.main_video.index == 1


def test_missing_format_duration_falls_back_to_the_longest_stream() -> None:
    result = probe_of(video_json(duration="3.0"), audio_json(duration="3.2"), duration=None)
    assert result.duration == 3.2


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (MediaLimits(max_width=1000), "media_too_large"),
        (MediaLimits(max_height=700), "media_too_large"),
        (MediaLimits(max_pixels=1280 * 720 - 1), "media_too_large"),
        (MediaLimits(max_duration=1.5), "media_too_long"),
        (MediaLimits(max_streams=1), "too_many_streams"),
        (MediaLimits(max_frame_rate=25), "frame_rate_too_high"),
    ],
)
def test_each_limit_refuses_with_its_code(limits: MediaLimits, code: str) -> None:
    with pytest.raises(Exception) as caught:
        check_limits(clip(), limits)
    assert caught.value.code == code  # type: ignore[attr-defined]


def test_within_limits_passes() -> None:
    check_limits(clip(), MediaLimits())


def test_declared_4k_thirty_minutes_is_too_long_by_default() -> None:
    result = clip({"width": 3840, "height": 2160, "duration": "1800"}, duration="1800")
    with pytest.raises(Exception) as caught:
        check_limits(result, MediaLimits())
    assert caught.value.code == "media_too_long"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("streams", "duration", "said"),
    [
        ((audio_json(index=0),), "2.0", "no video stream"),
        ((video_json(duration=None),), None, "duration is unknown"),
        ((video_json(width=0),), "2.0", "no frame size"),
        ((video_json(pix_fmt=None),), "2.0", "cannot be decoded"),
        ((video_json(nb_frames="80000000"),), "2.0", "declares 80000000 frames in 2.0 s"),
    ],
)
def test_a_video_without_what_processing_needs_is_invalid(streams: tuple, duration: str | None, said: str) -> None:
    with pytest.raises(Exception) as caught:
        check_limits(probe_of(*streams, duration=duration), MediaLimits())
    assert caught.value.code == "invalid_media"  # type: ignore[attr-defined]
    assert said in str(caught.value)


def test_error_lines_lose_paths_and_addresses() -> None:
    stderr = "noise\n[mov,mp4 @ 0x55d1c2] file:/tmp/job-123/input-0.mp4: moov atom not found\n\n"
    assert last_error_line(stderr) == "input-0.mp4: moov atom not found"
