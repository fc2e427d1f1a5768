"""Merging a clip whose picture size and frame rate change mid-stream, measured frame by frame.

The joined clip is two recordings glued byte for byte (MPEG-TS, `cat`, remuxed with `-c copy`):
320x240 at 25 fps of SMPTE bars with a 440 Hz tone, then 480x270 at 30 fps of HD bars with an
880 Hz tone. Its headers describe the first part only. The second clip is a single plain
recording made the same way (static colour pattern, 1320 Hz), so that by its headers alone the two
would be joined by stream copy. Static pictures make every output frame comparable with a
reference, and the tones show where each part's sound lands.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.media import MediaLimits, probe_media
from mediacraft.shared.media.scan import scan_video
from mediacraft.shared.worker.contract import JobCancelledError
from mediacraft.worker_merge.plan import plan_merge
from mediacraft.worker_merge.processor import process
from tests.integration.media.conftest import ClipLibrary, Job

FIRST = (320, 240, 25, "smptebars", 440)
SECOND = (480, 270, 30, "smptehdbars", 880)
PLAIN = (320, 240, 25, "yuvtestsrc", 1320)
SAMPLE_RATE = 48_000


def _run(args: list[str]) -> bytes:
    return subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *args], check=True, capture_output=True).stdout


def _ffprobe(path: Path, *args: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", *args, "-of", "json", str(path)], check=True, capture_output=True)
    return json.loads(out.stdout)


def video_frames(path: Path, width: int, height: int) -> np.ndarray:
    """Every decoded frame as RGB (frames, height, width, 3); they must all have this size."""
    raw = _run(["-i", str(path), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def reference(source: str, size: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """One frame of a static lavfi pattern, fitted into the target (aspect kept, black bars)."""
    w, h = target
    raw = _run(
        [
            "-f",
            "lavfi",
            "-i",
            f"{source}=size={size[0]}x{size[1]}:rate=1:duration=1",
            "-vf",
            f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]
    )
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def tones(path: Path) -> np.ndarray:
    """The dominant frequency of the first audio stream in 20 ms windows (10 ms apart)."""
    raw = _run(["-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"])
    samples = np.frombuffer(raw, np.float32)
    size, hop = SAMPLE_RATE // 50, SAMPLE_RATE // 100
    starts = range(0, len(samples) - size, hop)
    spectrum = np.abs(np.fft.rfft([samples[s : s + size] * np.hanning(size) for s in starts], axis=1))
    return np.fft.rfftfreq(size, 1 / SAMPLE_RATE)[spectrum.argmax(axis=1)]


def switch_time(frequencies: np.ndarray, to: float) -> float:
    """When the tone becomes `to` Hz (start of the first window dominated by it), seconds."""
    at = int(np.flatnonzero(np.abs(frequencies - to) < 60)[0])
    return at / 100 + 0.01  # a window half in the new tone is the first dominated by it


def stream(path: Path, kind: str) -> dict:
    return next(s for s in _ffprobe(path, "-show_streams")["streams"] if s["codec_type"] == kind)


def length(path: Path, kind: str) -> float:
    """A stream's duration in seconds (Matroska keeps it in a DURATION tag, HH:MM:SS.nnnnnnnnn)."""
    found = stream(path, kind)
    if "duration" in found:
        return float(found["duration"])
    hours, minutes, seconds = found["tags"]["DURATION"].split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@pytest.fixture(scope="session")
def joined(clips: ClipLibrary) -> Path:
    return clips.joined("joined-320p25-480p30.mp4", [FIRST, SECOND])


@pytest.fixture(scope="session")
def plain(clips: ClipLibrary) -> Path:
    return clips.joined("plain-320p25.mp4", [PLAIN])


def test_the_test_clip_really_changes_mid_stream(joined: Path) -> None:
    frames = _ffprobe(joined, "-select_streams", "v:0", "-show_entries", "frame=width,height")["frames"]
    sizes = [(f["width"], f["height"]) for f in frames]
    assert sizes[0] == (320, 240) and sizes[-1] == (480, 270)
    assert sizes.count((320, 240)) == 50 and sizes.count((480, 270)) == 60
    assert (stream(joined, "video")["width"], stream(joined, "video")["height"]) == (320, 240)


@pytest.mark.slow
@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_clip_that_changes_size_and_rate_mid_stream_is_normalised(
    clips: ClipLibrary, job: Job, container: str
) -> None:
    # Matroska keeps the timestamps where the parts meet as they were (the sound overlaps itself);
    # MP4 stores durations, so the remux has already made them follow on.
    joined = clips.joined(f"joined-320p25-480p30.{container}", [FIRST, SECOND])
    plain = clips.joined(f"plain-320p25.{container}", [PLAIN])
    job.add(joined, f"holiday part 1.{container}")
    job.add(plain, f"holiday part 2.{container}")
    limits = MediaLimits()
    if container == "mp4":
        # By their headers the two clips match: without reading the streams they would be copied.
        # (ffprobe guesses a Matroska clip's rate from its timestamps, so there the headers differ.)
        assert plan_merge([probe_media(p, limits) for p in job.inputs]).method == "stream_copy"

    result = process(job.ctx())

    assert result.info["method"] == "normalise"
    mismatches = result.info["mismatches"]
    assert any(m.startswith("input 1: picture changes from 320x240 yuv420p to 480x270 yuv420p") for m in mismatches)
    assert any(m.startswith("input 1: frame rate changes from 25 fps to 30 fps") for m in mismatches)
    assert result.info["target"]["width"] == 480 and result.info["target"]["height"] == 270
    assert result.info["target"]["frame_rate"] == "30"

    # One size and one frame rate from the first frame to the last.
    frames = _ffprobe(result.path, "-select_streams", "v:0", "-show_entries", "frame=width,height")["frames"]
    assert {(f["width"], f["height"]) for f in frames} == {(480, 270)}
    packets = _ffprobe(result.path, "-select_streams", "v:0", "-show_entries", "packet=pts_time")["packets"]
    times = sorted(float(p["pts_time"]) for p in packets)
    steps = np.diff(times)
    assert steps.min() == pytest.approx(1 / 30, abs=1e-3) and steps.max() == pytest.approx(1 / 30, abs=1e-3)

    # Length: the sum of the inputs' video within two frames; the sound as long as the picture.
    first_length = length(joined, "video")
    expected = first_length + length(plain, "video")
    video_length = length(result.path, "video")
    assert video_length == pytest.approx(expected, abs=2 / 30)
    assert length(result.path, "audio") == pytest.approx(video_length, abs=0.05)

    # Every frame shows its part's picture, properly fitted (PSNR against a fitted reference).
    refs = [reference(source, (w, h), (480, 270)) for w, h, _, source, _ in (FIRST, SECOND, PLAIN)]
    decoded = video_frames(result.path, 480, 270)
    assert len(decoded) == len(frames)
    scores = np.array([[psnr(frame, ref) for ref in refs] for frame in decoded])
    shown = scores.argmax(axis=1)
    assert list(dict.fromkeys(shown.tolist())) == [0, 1, 2], "each part appears once, in order"
    best = scores.max(axis=1)
    print(f"PSNR against the shown part: min {best.min():.1f} dB, median {np.median(best):.1f}")
    assert best.min() > 30.0

    # Where the picture changes in the output is where it changed in the input. Where the two
    # recordings meet their frames overlap in time (the remux shifted the second part's first
    # timestamps onto the first part's last ones), so the change may land anywhere between the
    # first new frame and the last old one, give or take two frames.
    input_frames = _ffprobe(joined, "-select_streams", "v:0", "-show_entries", "frame=width,pts_time")["frames"]
    video_start = float(stream(joined, "video")["start_time"])
    first_new = min(float(f["pts_time"]) for f in input_frames if f["width"] == 480) - video_start
    last_old = max(float(f["pts_time"]) for f in input_frames if f["width"] == 320) - video_start
    output_change = int(np.flatnonzero(shown == 1)[0]) / 30
    assert first_new - 2 / 30 <= output_change <= last_old + 2 / 30
    second_junction = int(np.flatnonzero(shown == 2)[0]) / 30
    assert second_junction == pytest.approx(first_length, abs=2 / 30)

    # The sound stays with its picture: each tone starts where it started in the input.
    # (Decoded sound starts at its stream's first sample, as each part's sound does in the output.)
    input_tone_change = switch_time(tones(joined), SECOND[4])
    output_tones = tones(result.path)
    output_tone_change = switch_time(output_tones, SECOND[4])
    assert output_tone_change == pytest.approx(input_tone_change, abs=0.03)
    assert switch_time(output_tones, PLAIN[4]) == pytest.approx(second_junction, abs=2 / 30)
    print(
        f"picture changes at {output_change:.3f} s (input: new frames from {first_new:.3f}, old until"
        f" {last_old:.3f}); tone at {output_tone_change:.3f} s (input {input_tone_change:.3f});"
        f" second clip: picture {second_junction:.3f} s, tone {switch_time(output_tones, PLAIN[4]):.3f} s"
    )


def test_a_clip_whose_pixel_format_changes_is_normalised_to_one_format(clips: ClipLibrary, job: Job) -> None:
    recolored = clips.joined("joined-420-444.mp4", [FIRST, FIRST[:3] + SECOND[3:]], pix_fmts=["yuv420p", "yuv444p"])
    formats = _ffprobe(recolored, "-select_streams", "v:0", "-show_entries", "frame=pix_fmt")["frames"]
    assert {f["pix_fmt"] for f in formats} == {"yuv420p", "yuv444p"}
    job.add(recolored)
    job.add(clips.get("other-640p.mp4", width=640, height=360, duration=1.0))
    result = process(job.ctx())
    assert any("picture changes from 320x240 yuv420p to 320x240 yuv444p" in m for m in result.info["mismatches"])
    frames = _ffprobe(result.path, "-select_streams", "v:0", "-show_entries", "frame=width,height,pix_fmt")["frames"]
    assert {(f["width"], f["height"], f["pix_fmt"]) for f in frames} == {(640, 360, "yuv420p")}
    expected = length(recolored, "video") + 1.0
    assert length(result.path, "video") == pytest.approx(expected, abs=2 / 30)
    assert length(result.path, "audio") == pytest.approx(expected, abs=0.05)
    # the second part's picture is there after the change, fitted into 640x360
    ref = reference(SECOND[3], (320, 240), (640, 360))
    assert psnr(video_frames(result.path, 640, 360)[-40], ref) > 30.0


def test_a_cancelled_scan_stops_ffprobe_and_says_cancelled(joined: Path) -> None:
    cancel = threading.Event()
    cancel.set()  # the watcher sees it on its first look, with ffprobe already started
    started = time.monotonic()
    with pytest.raises(JobCancelledError):
        scan_video(probe_media(joined, MediaLimits()), MediaLimits(), cancel_event=cancel, timeout=60)
    assert time.monotonic() - started < 5.0
    assert not [p for p in psutil.Process().children() if p.name() == "ffprobe" and p.status() != psutil.STATUS_ZOMBIE]


def test_a_scan_reads_the_change_from_the_file(joined: Path, plain: Path) -> None:
    changing = scan_video(probe_media(joined, MediaLimits()), MediaLimits(), timeout=60)
    assert [c.kind for c in changing.changes] == ["picture", "frame rate"]
    assert changing.largest == (480, 270) and changing.fastest == 30
    steady = scan_video(probe_media(plain, MediaLimits()), MediaLimits(), timeout=60)
    assert steady.changes == () and steady.largest == (320, 240) and steady.fastest == 25


def test_a_clip_that_cannot_be_converted_fails_naming_it_and_the_time(
    joined: Path, plain: Path, job: Job, clips: ClipLibrary
) -> None:
    # Garbage over the middle of the joined clip's media data: the decoder gives up part way.
    data = bytearray(joined.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = bytes(range(256)) * 15 + bytes(160)
    broken = job.write("in-0.mp4", bytes(data))
    packets = _ffprobe(broken, "-select_streams", "v:0", "-show_entries", "packet=pts_time,pos,size")["packets"]
    hit = min(float(p["pts_time"]) for p in packets if int(p["pos"]) + int(p["size"]) > middle)
    job.add(clips.get("other-640p.mp4", width=640, height=360, duration=1.0))
    names = ["Our trip (day 2).mp4", "ending.mp4"]
    with pytest.raises(InvalidInput) as caught:
        process(job.ctx(input_names=names))
    message = caught.value.message
    print(message)
    assert caught.value.code == "invalid_media"
    found = re.fullmatch(r"Our trip \(day 2\)\.mp4: the clip could not be converted at 00:(\d\d)", message)
    assert found is not None
    # the time is where the conversion had got to: at the damage, or a little before it
    assert int(hit) - 1 <= int(found.group(1)) <= int(hit) + 1
    assert job.only_inputs_left()


def test_a_clean_clip_decodes_to_its_end_and_an_unreadable_one_says_nothing(plain: Path, job: Job) -> None:
    from mediacraft.worker_merge.merge import decoded_until

    seconds = decoded_until(plain)
    assert seconds is not None and abs(seconds - float(stream(plain, "video")["duration"])) < 0.2
    assert decoded_until(job.write("nothing.mp4", b"not a video at all")) is None
