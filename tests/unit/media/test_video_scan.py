"""Reading ffprobe's whole-stream output for changes the headers hide; and what the plan makes of them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mediacraft.shared.media.scan import StreamChange, VideoScan, clock, read_scan
from mediacraft.worker_merge.plan import plan_merge
from tests.unit.media.probe_samples import clip


def _packets(times: list[float]) -> list[str]:
    return [f"packet|pts_time={t:.6f}" for t in times]


def _keyframe(at: float, size: str = "320x240", pix_fmt: str = "yuv420p", sar: str = "1:1") -> str:
    width, height = size.split("x")
    return (
        f"frame|best_effort_timestamp_time={at:.6f}|width={width}|height={height}|pix_fmt={pix_fmt}"
        f"|sample_aspect_ratio={sar}"
    )


def test_a_steady_stream_has_no_changes() -> None:
    lines = [_keyframe(0.0), *_packets([i / 25 for i in range(100)]), _keyframe(2.0)]
    scan = read_scan(lines)
    assert scan.changes == () and scan.largest == (320, 240) and scan.fastest == 25


def test_packets_in_decoding_order_are_put_back_in_presentation_order() -> None:
    # I P B B P B B ...: presentation times arrive out of order, the steps are still 1/30
    order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11]
    scan = read_scan(_packets([i / 30 for i in order] + [i / 30 for i in range(13, 90)]))
    assert scan.changes == () and scan.fastest == 30


def test_millisecond_timestamps_do_not_count_as_a_rate_change() -> None:
    scan = read_scan(_packets([round(i * 1000 / 30) / 1000 for i in range(90)]))  # 33, 33, 34 ms steps
    assert scan.changes == ()


def test_a_new_picture_size_and_rate_are_found_with_their_times() -> None:
    times = [i / 25 for i in range(50)] + [2.0 + i / 30 for i in range(60)]
    lines = [_keyframe(0.0), *_packets(times), _keyframe(2.0, "480x270")]
    scan = read_scan(lines, start=0.0)
    picture, rate = scan.changes
    assert picture == StreamChange("picture", "320x240 yuv420p", "480x270 yuv420p", 2.0)
    assert (rate.kind, rate.before, rate.after) == ("frame rate", "25 fps", "30 fps")
    assert rate.at == pytest.approx(2.0)  # the first frame shown at the new rate
    assert scan.largest == (480, 270) and scan.fastest == 30
    assert picture.describe() == "picture changes from 320x240 yuv420p to 480x270 yuv420p at 00:02"


def test_pixel_format_and_aspect_ratio_changes_count_as_picture_changes() -> None:
    assert read_scan([_keyframe(0.0), _keyframe(5.0, pix_fmt="yuv422p")]).changes[0].after == "320x240 yuv422p"
    anamorphic = read_scan([_keyframe(0.0), _keyframe(65.0, sar="4:3")])
    assert anamorphic.changes[0].after == "320x240 yuv420p (pixel aspect 4:3)"
    assert anamorphic.changes[0].describe().endswith("at 01:05") and anamorphic.largest == (427, 240)


def test_unknown_values_are_skipped() -> None:
    lines = ["packet|pts_time=N/A", "frame|best_effort_timestamp_time=N/A|width=N/A|height=N/A", "garbage", ""]
    assert read_scan(lines) == VideoScan(changes=(), largest=None, fastest=None)


def test_clock_reads_minutes_and_seconds() -> None:
    assert [clock(t) for t in (0, 1.99, 61, 3599.5, 3725)] == ["00:00", "00:01", "01:01", "59:59", "1:02:05"]


def test_a_change_mid_stream_rules_out_stream_copy_and_widens_the_target() -> None:
    inputs = [clip(name="a.mp4"), clip(name="b.mp4")]
    assert plan_merge(inputs).method == "stream_copy"
    change = StreamChange("picture", "1280x720 yuv420p", "1920x1080 yuv420p", 61.0)
    rate = StreamChange("frame rate", "30 fps", "60 fps", 61.0)
    scans = [VideoScan(), VideoScan(changes=(change, rate), largest=(1920, 1080), fastest=Fraction(60))]
    plan = plan_merge(inputs, scans=scans)
    assert plan.method == "normalise"
    assert plan.mismatches == (
        "input 2: picture changes from 1280x720 yuv420p to 1920x1080 yuv420p at 01:01",
        "input 2: frame rate changes from 30 fps to 60 fps at 01:01",
    )
    assert plan.target is not None
    assert (plan.target.width, plan.target.height, plan.target.frame_rate) == (1920, 1080, Fraction(60))


def test_scans_without_changes_keep_stream_copy() -> None:
    inputs = [clip(name="a.mp4"), clip(name="b.mp4")]
    scans = [VideoScan(largest=(1280, 720), fastest=Fraction(30))] * 2
    assert plan_merge(inputs, scans=scans).method == "stream_copy"


def test_a_jump_where_the_rate_stays_the_same_is_uneven_timing() -> None:
    # two 25 fps recordings whose timestamps overlap by a frame where they meet
    times = [i / 25 for i in range(50)] + [1.96 + i / 25 for i in range(50)]
    (change,) = read_scan(_packets(times)).changes
    assert (change.kind, change.before, change.after) == ("frame timing", "25 fps", "25 fps")
    assert change.describe() == "frame timing is uneven at 00:01 (25 fps)"


@pytest.mark.parametrize(
    ("frame_ms", "rate"),
    [(40, Fraction(25)), (1000 / 30, Fraction(30)), (1001 / 30, Fraction(30000, 1001)), (70, Fraction(100, 7))],
    ids=["25", "30-in-ms", "29.97-in-ms", "14.3"],
)
def test_rates_are_measured_as_means_and_snapped_to_standard_ones(frame_ms: float, rate: Fraction) -> None:
    times = [round(i * frame_ms) / 1000 for i in range(300)]  # Matroska-style millisecond timestamps
    assert read_scan(_packets(times)).fastest == rate
