"""Parsing of ffmpeg's `-progress` output into progress snapshots."""

from __future__ import annotations

from mediacraft.shared.media import ProgressParser


def feed(parser: ProgressParser, text: str) -> list:
    return [s for s in (parser.feed(line) for line in text.splitlines()) if s is not None]


def test_a_block_becomes_one_snapshot_with_fraction_of_total() -> None:
    block = "frame=75\nout_time_us=2500000\nspeed=1.5x\ntotal_size=1024\nprogress=continue\n"
    snaps = feed(ProgressParser(total_duration=10.0), block)
    assert len(snaps) == 1
    snap = snaps[0]
    assert (snap.out_time, snap.frame, snap.speed, snap.total_size, snap.done) == (2.5, 75, 1.5, 1024, False)
    assert snap.fraction == 0.25


def test_na_and_negative_times_early_on_count_as_zero() -> None:
    parser = ProgressParser(total_duration=4.0)
    snaps = feed(
        parser,
        "out_time_us=N/A\nout_time=N/A\nspeed=N/A\nprogress=continue\n"
        "out_time_us=-23220\nout_time=-00:00:00.023220\nprogress=continue\n",
    )
    assert [(s.out_time, s.fraction, s.speed) for s in snaps] == [(0.0, 0.0, None), (0.0, 0.0, None)]


def test_out_time_clock_is_used_when_microseconds_are_missing() -> None:
    snaps = feed(ProgressParser(), "out_time=00:01:02.500000\nprogress=continue\n")
    assert snaps[0].out_time == 62.5
    assert snaps[0].fraction is None  # no total: no fraction


def test_end_is_complete_and_fraction_never_exceeds_one() -> None:
    parser = ProgressParser(total_duration=2.0)
    snaps = feed(parser, "out_time_us=2600000\nprogress=continue\nout_time_us=2500000\nprogress=end\n")
    assert [s.fraction for s in snaps] == [1.0, 1.0]
    assert snaps[-1].done


def test_fields_do_not_leak_from_one_block_into_the_next() -> None:
    blocks = "frame=5\nout_time_us=1000000\nprogress=continue\nout_time_us=2000000\nprogress=continue\n"
    snaps = feed(ProgressParser(total_duration=10.0), blocks)
    assert [s.frame for s in snaps] == [5, None]
    assert [s.out_time for s in snaps] == [1.0, 2.0]


def test_garbage_lines_are_ignored() -> None:
    parser = ProgressParser(total_duration=1.0)
    assert feed(parser, "\nnot a field\nbitrate=  12.3kbits/s\n") == []
