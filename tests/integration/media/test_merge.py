"""The merge processor with real ffmpeg: stream copy, normalise, bad input, cancel."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.worker.contract import JobCancelledError
from mediacraft.worker_merge.processor import MergeOptions, MergeProcessor, process
from tests.integration.media.conftest import ClipLibrary, Job, Listener, Tripwire


def packet_hashes(path: Path, stream: str) -> list[str]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=data_hash",
            "-show_data_hash",
            "MD5",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    return [p["data_hash"] for p in json.loads(out)["packets"]]


def stream_durations(path: Path) -> dict[str, float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return {s["codec_type"]: float(s["duration"]) for s in json.loads(out)["streams"]}


def matching(clips: ClipLibrary) -> list[Path]:
    return [clips.get(f"match-{d}.mp4", duration=d) for d in (1.0, 1.5, 2.0)]


def mismatched(clips: ClipLibrary) -> list[Path]:
    return [
        clips.get("mis-720p30.mp4", width=1280, height=720, fps=30, duration=1.5),
        clips.get("mis-1080p25.mp4", width=1920, height=1080, fps=25, duration=1.0, channels=1, sample_rate=44100),
        clips.get("mis-360p24.mp4", width=640, height=360, fps=24, duration=1.0, audio=False),
    ]


def test_matching_clips_are_stream_copied_losslessly(clips: ClipLibrary, job: Job) -> None:
    sources = matching(clips)
    # Awkward names prove the list file's quoting against ffmpeg's own parser.
    for source, name in zip(sources, ["it's one.mp4", "two #2 $HOME.mp4", "three\\back'slash.mp4"], strict=True):
        job.add(source, name)
    reports: list[float] = []
    result = process(job.ctx(report=lambda fraction, detail="": reports.append(fraction)))

    assert result.info["method"] == "stream_copy"
    assert result.path.is_relative_to(job.workdir) and result.path.exists()
    for stream in ("v:0", "a:0"):  # every packet byte-identical: nothing was re-encoded
        expected = [h for source in sources for h in packet_hashes(source, stream)]
        assert packet_hashes(result.path, stream) == expected
    assert result.media is not None and result.media.duration == pytest.approx(4.5, abs=0.1)
    assert (result.media.width, result.media.height, result.media.has_audio) == (640, 360, True)
    assert reports == sorted(reports) and reports[-1] == 1.0
    assert job.listing() == {p.name for p in job.inputs} | {
        str(result.path.parent.relative_to(job.workdir)),
        str(result.path.relative_to(job.workdir)),
    }


def test_the_clips_are_joined_in_the_configured_order(clips: ClipLibrary, job: Job) -> None:
    sources = matching(clips)
    for source in sources:
        job.add(source)
    result = process(job.ctx(config={"order": [2, 0, 1]}))
    expected = [h for n in (2, 0, 1) for h in packet_hashes(sources[n], "v:0")]
    assert packet_hashes(result.path, "v:0") == expected


def test_an_order_that_is_not_a_permutation_is_invalid_config(clips: ClipLibrary, job: Job) -> None:
    for source in matching(clips)[:2]:
        job.add(source)
    with pytest.raises(InvalidInput) as caught:
        process(job.ctx(config={"order": [0, 0]}))
    assert caught.value.code == "invalid_config" and job.only_inputs_left()


@pytest.mark.slow
def test_mismatched_clips_are_normalised_into_one_playable_file(clips: ClipLibrary, job: Job) -> None:
    for source in mismatched(clips):
        job.add(source)
    total = 1.5 + 1.0 + 1.0
    result = process(job.ctx())

    assert result.info["method"] == "normalise"
    assert result.info["target"] == {
        "width": 1920,
        "height": 1080,
        "frame_rate": "30",
        "pix_fmt": "yuv420p",
        "sample_rate": 48000,
        "channel_layout": "stereo",
    }
    decode = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", str(result.path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert decode.returncode == 0 and decode.stderr == ""
    durations = stream_durations(result.path)
    assert durations["video"] == pytest.approx(total, abs=0.2)
    assert durations["audio"] == pytest.approx(total, abs=0.2)
    media = result.media
    assert media is not None
    assert (media.width, media.height, media.frame_rate, media.video_codec, media.audio_codec) == (
        1920,
        1080,
        30.0,
        "h264",
        "aac",
    )


def _html(job: Job, clips: ClipLibrary, listener: Listener, tripwire: Tripwire) -> Path:
    return job.write("page.mp4", b"<!DOCTYPE html><html><body><video src='x.mp4'></video></body></html>\n")


def _hls(job: Job, clips: ClipLibrary, listener: Listener, tripwire: Tripwire) -> Path:
    text = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{listener.url}\n#EXT-X-ENDLIST\n"
    return job.write("playlist.mp4", text.encode())


def _ffconcat(job: Job, clips: ClipLibrary, listener: Listener, tripwire: Tripwire) -> Path:
    return job.write("list.mp4", f"ffconcat version 1.0\nfile '{tripwire.path}'\n".encode())


def _truncated(job: Job, clips: ClipLibrary, listener: Listener, tripwire: Tripwire) -> Path:
    whole = clips.get("whole.mp4", duration=2.0).read_bytes()  # index (moov) at the end
    return job.write("cut.mp4", whole[: len(whole) * 6 // 10])


def _truncated_faststart(job: Job, clips: ClipLibrary, listener: Listener, tripwire: Tripwire) -> Path:
    whole = clips.get("faststart.mp4", duration=2.0, extra_args=["-movflags", "+faststart"]).read_bytes()
    return job.write("cut-faststart.mp4", whole[: len(whole) * 6 // 10])


def _declared_4k_30min(job: Job, clips: ClipLibrary, listener: Listener, tripwire: Tripwire) -> Path:
    # One 4K frame shown for 30 minutes: a valid, tiny file that declares 4K and 1800 s.
    path = clips.render(
        "4k-30min.mp4",
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=black:size=3840x2160:rate=1/1800:duration=1800",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    )
    assert path.stat().st_size < 100_000
    return job.add(path, "huge.mp4")


@pytest.mark.parametrize(
    ("make_bad", "code"),
    [
        (_html, "unsupported_format"),
        (_hls, "unsupported_format"),
        (_ffconcat, "unsupported_format"),
        (_truncated, "invalid_media"),
        (_truncated_faststart, "invalid_media"),
        (_declared_4k_30min, "media_too_long"),
    ],
    ids=["html", "hls", "ffconcat", "truncated", "truncated-faststart", "declared-4k-30min"],
)
def test_bad_input_fails_with_a_stable_code_and_leaves_only_the_inputs(
    clips: ClipLibrary,
    job: Job,
    listener: Listener,
    outside_tripwire: Tripwire,
    make_bad,
    code: str,
) -> None:
    job.add(matching(clips)[0])
    make_bad(job, clips, listener, outside_tripwire)
    started = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        process(job.ctx())
    assert caught.value.code == code
    assert time.monotonic() - started < 10.0  # refused from headers: no decode of 30 min of 4K
    assert job.only_inputs_left()
    assert listener.connections() == 0
    assert not outside_tripwire.opened_by_other()


def test_one_clip_is_not_a_merge(clips: ClipLibrary, job: Job) -> None:
    job.add(matching(clips)[0])
    with pytest.raises(InvalidInput) as caught:
        process(job.ctx())
    assert caught.value.code == "too_few_inputs"
    assert job.only_inputs_left()


def test_more_clips_than_configured_are_refused(clips: ClipLibrary, job: Job) -> None:
    for _ in range(3):
        job.add(matching(clips)[0])
    with pytest.raises(InvalidInput) as caught:
        MergeProcessor(MergeOptions(max_inputs=2))(job.ctx())
    assert caught.value.code == "too_many_inputs"
    assert job.only_inputs_left()


@pytest.mark.slow
def test_cancel_during_a_normalising_merge_stops_ffmpeg_within_two_seconds(clips: ClipLibrary, job: Job) -> None:
    # A first part long enough (and an encoder slow enough) that the cancel lands mid-encode.
    job.add(clips.get("cancel-1080p.mp4", width=1920, height=1080, fps=25, duration=2.0))
    job.add(mismatched(clips)[2])
    ctx = job.ctx()
    running: list[psutil.Process] = []
    cancelled_at: list[float] = []

    def report(fraction: float, detail: str = "") -> None:
        if detail == "normalise" and fraction > 0.05 and not cancelled_at:
            running.extend(
                p for p in psutil.Process().children() if p.name() == "ffmpeg" and p.status() != psutil.STATUS_ZOMBIE
            )
            cancelled_at.append(time.monotonic())
            ctx.cancel_event.set()

    ctx.report = report
    with pytest.raises(JobCancelledError):
        MergeProcessor(MergeOptions(preset="medium"))(ctx)
    stopped_in = time.monotonic() - cancelled_at[0]
    assert running, "ffmpeg was not running when the cancel came"
    assert stopped_in < 2.0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in running)
    assert job.only_inputs_left()
    print(f"cancel stopped ffmpeg in {stopped_in:.3f} s")


def test_a_cancel_arriving_as_ffmpeg_finishes_still_wins(clips: ClipLibrary, job: Job) -> None:
    for source in matching(clips):
        job.add(source)
    ctx = job.ctx()

    def report(fraction: float, detail: str = "") -> None:
        if fraction >= 0.95 and detail == "stream_copy":
            ctx.cancel_event.set()

    ctx.report = report
    with pytest.raises(JobCancelledError):
        process(ctx)
    assert job.only_inputs_left()


def test_process_runs_in_a_worker_thread(clips: ClipLibrary, job: Job) -> None:
    """The runtime calls process() in a thread; it must not need the main thread."""
    for source in matching(clips)[:2]:
        job.add(source)
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=process(job.ctx())))
    worker.start()
    worker.join(timeout=60)
    result = outcome["result"]
    assert result.info["method"] == "stream_copy"  # type: ignore[attr-defined]
    assert result.media.duration == pytest.approx(2.5, abs=0.1)  # type: ignore[attr-defined]
