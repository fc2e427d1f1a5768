"""The job config, progress arithmetic and the ffmpeg arguments each method builds; no I/O."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from mediacraft.shared.config_errors import InvalidConfig
from mediacraft.shared.media import MP4, AudioStream, ProbeResult, VideoStream
from mediacraft.shared.tasks import MediaInfo
from mediacraft.worker_watermark.bounds import RunBounds
from mediacraft.worker_watermark.delogo import delogo_args, delogo_filter
from mediacraft.worker_watermark.encoder import EncoderSettings, colour_args, even_crop
from mediacraft.worker_watermark.inpaint import decoder_args, encoder_args, remux_args
from mediacraft.worker_watermark.processor import FrameProgress, WatermarkOptions, parse_config
from mediacraft.worker_watermark.regions import Region

OPTIONS = WatermarkOptions()


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (None, "auto"),
        ("auto", "auto"),
        ("inpaint", "inpaint"),
        ("quality", "auto"),
        ("Quality ", "auto"),
        ("delogo", "delogo"),
        ("speed", "delogo"),
        ("SPEED", "delogo"),
    ],
)
def test_methods_and_their_aliases(method: str | None, expected: str) -> None:
    config = {"regions": [[1, 1, 2, 2]]} | ({} if method is None else {"method": method})
    parsed = parse_config(config, OPTIONS)
    assert parsed.method == expected
    assert parsed.radius == OPTIONS.default_radius
    assert parsed.selected_frame is None
    assert parsed.settings.regions == [(1, 1, 2, 2)]


@pytest.mark.parametrize(
    "config",
    [
        {"method": "blur"},
        {"method": 3},
        {"inpaint_radius": 0},
        {"inpaint_radius": 16},
        {"inpaint_radius": 2.5},
        {"inpaint_radius": True},
        {"selected_frame": -1},
        {"selected_frame": "7"},
        {"regions": [[1, 1, 2, 2]], "colour": "red"},
    ],
)
def test_malformed_config_is_refused_with_the_gateways_code(config: dict[str, object]) -> None:
    with pytest.raises(InvalidConfig) as caught:
        parse_config({"regions": [[1, 1, 2, 2]]} | config, OPTIONS)
    assert caught.value.code == "invalid_config"


def test_radius_and_selected_frame_are_taken_when_valid() -> None:
    parsed = parse_config({"regions": [[1, 1, 2, 2]], "inpaint_radius": 5, "selected_frame": 120}, OPTIONS)
    assert (parsed.radius, parsed.selected_frame) == (5, 120)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_frame_progress_is_throttled_monotonic_and_ends_at_one() -> None:
    reports: list[tuple[float, str]] = []
    clock = FakeClock()
    progress = FrameProgress(lambda f, d: reports.append((f, d)), 100, "inpaint", every=0.25, clock=clock)
    progress(10)
    progress(20)  # too soon after the last report
    clock.now = 0.3
    progress(5)  # would go backwards
    progress(50)
    clock.now = 0.6
    progress(150)  # more frames than the probe counted
    assert [round(f, 3) for f, _ in reports] == [0.118, 0.51, 1.0]
    assert {d for _, d in reports} == {"inpaint"}


def test_frame_progress_without_a_frame_count_reports_nothing() -> None:
    reports: list[float] = []
    FrameProgress(lambda f, d: reports.append(f), None, "delogo")(10)
    assert reports == []


def _probe(
    width: int = 1280, height: int = 720, *, audio: tuple[AudioStream, ...] = (), sar: Fraction = Fraction(1)
) -> ProbeResult:
    video = VideoStream(
        index=0,
        codec="h264",
        profile="High",
        level=31,
        width=width,
        height=height,
        pix_fmt="yuv420p",
        sar=sar,
        frame_rate=Fraction(30000, 1001),
        avg_frame_rate=Fraction(30000, 1001),
        time_base="1/30000",
        color_range="tv",
        color_space="bt709",
        color_transfer="unknown",
        color_primaries="bt709",
        field_order=None,
        rotation=0,
        extradata_hash=None,
        duration=2.0,
        frame_count=60,
        attached_pic=False,
    )
    return ProbeResult(
        path=Path("/job/input-000.mp4"),
        container=MP4,
        size=1000,
        format_name="mov,mp4",
        duration=2.0,
        stream_count=1 + len(audio),
        video=(video,),
        audio=audio,
        media=MediaInfo(width=width, height=height, frame_rate=29.97, frame_count=60, duration=2.0),
    )


def _audio(codec: str, index: int = 1) -> AudioStream:
    return AudioStream(
        index=index,
        codec=codec,
        profile=None,
        sample_rate=48000,
        channels=2,
        channel_layout="stereo",
        sample_fmt="fltp",
        time_base="1/48000",
        extradata_hash=None,
        duration=2.0,
    )


def test_delogo_chains_one_filter_per_region_and_crops_odd_frames() -> None:
    regions = [Region(10, 20, 30, 40), Region(100, 5, 6, 7)]
    assert delogo_filter(regions) == "delogo=x=10:y=20:w=30:h=40,delogo=x=100:y=5:w=6:h=7"
    args = delogo_args(
        _probe(321, 241), regions, Path("/job/out.mp4"), bounds=RunBounds(OPTIONS.limits), encoder=EncoderSettings()
    )
    assert args[args.index("-vf") + 1] == delogo_filter(regions) + ",crop=320:240:0:0"
    assert "-protocol_whitelist" in args and args[args.index("-f") + 1] == "mov"
    assert args[-1] == "/job/out.mp4" and "+faststart" in args


def test_both_methods_share_the_encoder_settings() -> None:
    source = _probe(audio=(_audio("aac"),))
    encoder = EncoderSettings(preset="faster", crf=23)
    bounds = RunBounds(OPTIONS.limits)
    delogo = delogo_args(source, [Region(1, 1, 5, 5)], Path("/o.mp4"), bounds=bounds, encoder=encoder)
    inpaint = encoder_args(source, 1280, 720, Fraction(30000, 1001), Path("/o.mp4"), encoder)
    remux = remux_args(source, OPTIONS.limits, Path("/v.mp4"), Path("/o.mp4"), encoder)
    for args in (delogo, inpaint):
        assert args[args.index("-preset") + 1] == "faster" and args[args.index("-crf") + 1] == "23"
    for args in (delogo, remux):
        assert args[args.index("-c:a") + 1] == "copy" and "+faststart" in args


def test_inpaint_pipes_constant_rate_raw_frames_and_maps_source_audio() -> None:
    source = _probe(audio=(_audio("aac"),), sar=Fraction(4, 3))
    dec = decoder_args(source, OPTIONS.limits, 1280, 720, Fraction(30000, 1001))
    assert dec[dec.index("-r") + 1] == "30000/1001" and dec[-3:] == ["-f", "rawvideo", "pipe:1"]
    assert "scale=w=1280:h=720,format=yuv420p" in dec  # already limited range: frames pass through
    enc = encoder_args(source, 1280, 720, Fraction(30000, 1001), Path("/v.mp4"), EncoderSettings())
    assert enc[:12] == [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-video_size",
        "1280x720",
        "-framerate",
        "30000/1001",
        "-thread_queue_size",
        "2",
        "-i",
        "pipe:0",
    ]
    assert enc[enc.index("-vf") + 1] == "setsar=4/3"
    assert enc[enc.index("-colorspace") + 1] == "bt709" and "-color_trc" not in enc
    assert "-c:a" not in enc and enc[-1] == "/v.mp4"
    remux = remux_args(source, OPTIONS.limits, Path("/v.mp4"), Path("/o.mp4"), EncoderSettings())
    assert remux[:8] == ["-protocol_whitelist", "file", "-format_whitelist", "mov", "-f", "mov", "-i", "file:/v.mp4"]
    assert remux[remux.index("-map") + 1 : remux.index("-map") + 4] == ["0:v:0", "-map", "1:a?"]
    assert remux[remux.index("-c:v") + 1] == "copy" and remux[-1] == "/o.mp4"


def test_full_range_sources_are_converted_to_the_range_the_encoder_is_told() -> None:
    source = _probe()
    video = source.main_video
    assert video is not None
    for change in ({"color_range": "pc"}, {"pix_fmt": "yuvj420p", "color_range": None}):
        full = replace(source, video=(replace(video, **change),))
        dec = decoder_args(full, OPTIONS.limits, 1280, 720, Fraction(25))
        assert "scale=w=1280:h=720:out_range=tv,format=yuv420p" in dec
    assert colour_args(video)[:2] == ["-color_range", "tv"]


def test_audio_mp4_cannot_hold_is_encoded_to_aac_and_no_audio_adds_nothing() -> None:
    encoder = EncoderSettings()
    assert encoder.audio_args([]) == []
    assert encoder.audio_args([_audio("opus")]) == ["-c:a", "copy"]
    assert encoder.audio_args([_audio("aac"), _audio("vorbis", 2)])[:2] == ["-c:a", "aac"]


def test_even_crop_and_colour_tags() -> None:
    assert even_crop(1280, 720) is None
    assert even_crop(1281, 720) == "crop=1280:720:0:0"
    args = colour_args(_probe().main_video)  # type: ignore[arg-type]
    assert args == ["-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709"]
