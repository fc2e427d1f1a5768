"""Merge decisions: stream copy only when everything matches; the normalise target rule."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.media import InvalidMedia, MediaLimits
from mediacraft.shared.media.sniff import MATROSKA
from mediacraft.worker_merge import merge
from mediacraft.worker_merge.merge import EncoderSettings, segment_args, segment_graphs, stream_copy_args
from mediacraft.worker_merge.plan import plan_merge
from tests.unit.media.probe_samples import audio_json, clip, probe_of, video_json


def test_matching_inputs_are_stream_copied() -> None:
    plan = plan_merge([clip(name="a.mp4"), clip(name="b.mp4", duration="3.0", video={"duration": "3.0"}), clip()])
    assert plan.method == "stream_copy"
    assert plan.mismatches == ()
    assert plan.target is None
    assert plan.total_duration == pytest.approx(7.0)


@pytest.mark.parametrize(
    ("video", "audio", "field"),
    [
        ({"codec_name": "hevc"}, {}, "video codec"),
        ({"profile": "Main"}, {}, "video profile"),
        ({"level": 40}, {}, "video level"),
        ({"width": 1920}, {}, "video width"),
        ({"height": 1080}, {}, "video height"),
        ({"pix_fmt": "yuv420p10le"}, {}, "video pix_fmt"),
        ({"sample_aspect_ratio": "4:3"}, {}, "video sar"),
        ({"r_frame_rate": "25/1"}, {}, "video frame_rate"),
        ({"time_base": "1/90000"}, {}, "video time_base"),
        ({"color_range": "pc"}, {}, "video color_range"),
        ({"color_space": "bt709"}, {}, "video color_space"),
        ({"color_transfer": "bt709"}, {}, "video color_transfer"),
        ({"color_primaries": "bt709"}, {}, "video color_primaries"),
        ({"field_order": "tt"}, {}, "video field_order"),
        ({"side_data_list": [{"rotation": 90}]}, {}, "video rotation"),
        ({"extradata_hash": "SHA256:other"}, {}, "video extradata_hash"),
        ({}, {"codec_name": "mp3"}, "audio codec"),
        ({}, {"profile": "HE-AAC"}, "audio profile"),
        ({}, {"sample_rate": "44100"}, "audio sample_rate"),
        ({}, {"channels": 1}, "audio channels"),
        ({}, {"channel_layout": "mono"}, "audio channel_layout"),
        ({}, {"sample_fmt": "s16"}, "audio sample_fmt"),
        ({}, {"extradata_hash": "SHA256:other"}, "audio extradata_hash"),
    ],
)
def test_any_single_difference_forces_normalise(video: dict[str, Any], audio: dict[str, Any], field: str) -> None:
    plan = plan_merge([clip(), clip(video, audio)])
    assert plan.method == "normalise"
    assert any(f"input 2: {field} " in reason for reason in plan.mismatches), plan.mismatches


def test_a_missing_audio_track_forces_normalise_with_a_silent_segment() -> None:
    plan = plan_merge([clip(), clip(silent=True)])
    assert plan.method == "normalise"
    assert any("0 audio streams" in reason for reason in plan.mismatches)
    assert plan.with_audio and plan.target is not None
    silent = segment_graphs(plan.segments[1], plan.target, with_audio=True)
    assert silent[1].startswith("anullsrc=channel_layout=stereo:sample_rate=48000")
    assert silent[1].endswith("atrim=end=2.000000[a]")
    assert segment_graphs(plan.segments[0], plan.target, with_audio=True)[1].startswith("[0:1]asetpts")


def test_no_audio_anywhere_gives_a_video_only_output() -> None:
    plan = plan_merge([clip(silent=True), clip({"width": 640, "height": 360}, silent=True)])
    assert not plan.with_audio and plan.target is not None
    args = segment_args(
        plan.segments[0],
        plan.target,
        Path("/job/part.mov"),
        with_audio=False,
        limits=MediaLimits(),
        encoder=EncoderSettings(),
    )
    assert "[a]" not in args and "-c:a" not in args
    assert args[args.index("-map") + 1] == "[v]"


def test_a_different_container_forces_normalise() -> None:
    mkv = probe_of(video_json(), audio_json(), container=MATROSKA)
    assert plan_merge([clip(), mkv]).method == "normalise"


def test_codecs_that_mp4_cannot_hold_are_never_copied_even_when_matching() -> None:
    vp8 = {"codec_name": "vp8"}
    vorbis = {"codec_name": "vorbis"}
    plan = plan_merge([clip(vp8, vorbis), clip(vp8, vorbis)])
    assert plan.method == "normalise"
    assert any("cannot be copied into MP4" in reason for reason in plan.mismatches)


def test_target_is_the_largest_display_size_and_the_highest_frame_rate() -> None:
    plan = plan_merge(
        [
            clip({"width": 1280, "height": 720, "r_frame_rate": "30/1", "avg_frame_rate": "30/1"}),
            clip({"width": 1920, "height": 1080, "r_frame_rate": "25/1", "avg_frame_rate": "25/1"}),
            clip({"width": 640, "height": 360, "r_frame_rate": "24/1", "avg_frame_rate": "24/1"}, silent=True),
        ]
    )
    assert plan.target is not None
    assert (plan.target.width, plan.target.height, plan.target.frame_rate) == (1920, 1080, Fraction(30))
    assert (plan.target.pix_fmt, plan.target.sample_rate, plan.target.channel_layout) == ("yuv420p", 48000, "stereo")


def test_target_uses_the_display_size_of_anamorphic_video_rounded_to_even() -> None:
    anamorphic = clip({"width": 720, "height": 576, "sample_aspect_ratio": "16:11"})  # shows as 1047x576
    plan = plan_merge([clip({"width": 960, "height": 540}), anamorphic])
    assert plan.target is not None
    assert (plan.target.width, plan.target.height) == (1046, 576)


def test_target_uses_the_rotated_size_of_portrait_video() -> None:
    portrait = clip({"width": 1281, "height": 721, "side_data_list": [{"rotation": -90}]})  # shows as 721x1281
    plan = plan_merge([clip({"width": 1280, "height": 720}), portrait])
    assert plan.target is not None
    assert (plan.target.width, plan.target.height) == (720, 1280)


def test_ties_on_size_go_to_the_first_input() -> None:
    plan = plan_merge([clip({"width": 1280, "height": 720}), clip({"width": 720, "height": 1280})])
    assert plan.target is not None and (plan.target.width, plan.target.height) == (1280, 720)


def test_frame_rate_is_capped() -> None:
    plan = plan_merge([clip({"r_frame_rate": "120/1", "avg_frame_rate": "120/1"}), clip()], max_frame_rate=60)
    assert plan.target is not None and plan.target.frame_rate == 60


def test_each_segment_lasts_its_video_and_audio_is_padded_and_trimmed_to_it() -> None:
    first = clip({"duration": "1.5"}, {"duration": "1.55"}, duration="1.55")
    plan = plan_merge([first, clip({"width": 640, "height": 360})])
    assert [s.duration for s in plan.segments] == [1.5, 2.0]
    assert plan.target is not None
    video, audio = segment_graphs(plan.segments[0], plan.target, with_audio=True)
    assert video.startswith("[0:0]setpts=PTS-0.000000/TB,") and video.endswith("trim=end=1.500000[v]")
    assert audio.startswith("[0:1]asetpts=PTS-0.000000/TB,aresample=48000:async=1") and audio.endswith(
        "apad,atrim=end=1.500000[a]"
    )
    assert "scale=1280:720:force_original_aspect_ratio=decrease" in video
    assert "pad=1280:720:(ow-iw)/2:(oh-ih)/2" in video


def test_graphs_hold_no_state_that_a_rebuild_mid_stream_would_reset() -> None:
    # ffmpeg rebuilds a stream's graph when its picture changes size or format; every filter
    # starts afresh then, so nothing may count from "the first frame seen".
    first = clip(
        {"start_time": "0.021000", "duration": "1.5"},
        {"start_time": "0.000000", "duration": "1.5"},
        duration="1.5",
        start_time="0.000000",
    )
    plan = plan_merge([first, clip({"width": 640, "height": 360})])
    assert plan.target is not None
    graphs = segment_graphs(plan.segments[0], plan.target, with_audio=True)
    assert graphs[0].startswith("[0:0]setpts=PTS-0.021000/TB,")  # the stream's offset, from the probe
    assert graphs[1].startswith("[0:1]asetpts=PTS-0.000000/TB,")
    for graph in graphs:
        assert "STARTPTS" not in graph and "duration=" not in graph.replace("stop_duration=", "")
        assert "fps=" not in graph  # the output makes the rate constant; its count survives a rebuild
    args = segment_args(
        plan.segments[0],
        plan.target,
        Path("/job/p.mov"),
        with_audio=True,
        limits=MediaLimits(),
        encoder=EncoderSettings(),
    )
    assert args[args.index("-reinit_filter") + 1] == "1" and args.index("-reinit_filter") < args.index("-i")
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "-filter_complex"] == graphs  # one graph each
    assert args[args.index("-fps_mode") : args.index("-fps_mode") + 4] == ["-fps_mode", "cfr", "-r", "30/1"]
    assert args[args.index("-t") + 1] == "1.500000" and args.index("-t") > args.index("-i")


def test_each_part_is_opened_with_its_demuxer_forced_and_encoded_alike() -> None:
    plan = plan_merge([clip(), clip({"width": 640, "height": 360})])
    assert plan.target is not None
    args = [
        segment_args(
            seg, plan.target, Path(f"/job/p{i}.mov"), with_audio=True, limits=MediaLimits(), encoder=EncoderSettings()
        )
        for i, seg in enumerate(plan.segments)
    ]
    for part in args:
        head = part[part.index("-protocol_whitelist") : part.index("-i") + 2]
        assert head[:6] == ["-protocol_whitelist", "file,pipe", "-format_whitelist", "mov", "-f", "mov"]
        assert head[-1].startswith("file:/")
    tails = [part[part.index("-c:v") :] for part in args]
    assert tails[0][:-1] == tails[1][:-1]  # same encoder settings: the parts can be concatenated


def test_stream_copy_reads_the_list_with_file_protocol_only() -> None:
    plan = plan_merge([clip(), clip()])
    args = stream_copy_args(plan, Path("/job/list.ffconcat"), Path("/job/out.mp4"))
    assert args[:10] == [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        "concat,mov",
        "-f",
        "concat",
        "-safe",
        "0",
        "-auto_convert",
        "0",
    ]
    assert args[args.index("-c:a") : args.index("-c:a") + 2] == ["-c:a", "copy"]
    assert args[args.index("-c:v") : args.index("-c:v") + 2] == ["-c:v", "copy"]
    assert "+faststart" in args and args[-1] == "/job/out.mp4"


@pytest.mark.parametrize(("part_seconds", "fails"), [("2.000000", False), ("1.966667", False), ("1.200000", True)])
def test_a_part_whose_picture_stops_short_fails_naming_the_clip(
    monkeypatch: pytest.MonkeyPatch, part_seconds: str, fails: bool
) -> None:
    # The graph clones the last frame for a second at most; a picture that vanished earlier in
    # its clip leaves its part short of the segment, which would leave a hole in the output.
    plan = plan_merge([clip(), clip({"width": 640, "height": 360})])
    assert plan.target is not None
    part = clip({"duration": part_seconds}, duration=part_seconds)
    monkeypatch.setattr(merge, "probe_media", lambda path, limits: part)
    target = plan.target

    def check() -> object:
        return merge._check_part(Path("/job/p.mov"), plan.segments[0], target, "beach.mp4", MediaLimits())

    if not fails:
        assert check() is part
        return
    with pytest.raises(InvalidMedia) as caught:
        check()
    assert caught.value.message == "beach.mp4: the picture stops at 00:00 but the clip lasts until 00:02"
