"""The reprocess processor and the shared still-image functions on rendered clips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import pytest

from mediacraft.shared.media import probe_media
from mediacraft.shared.media.stills import poster_frame, storyboard, storyboard_layout
from mediacraft.shared.worker.progress import job_stages
from mediacraft.worker_merge.processor import process
from mediacraft.worker_merge.reprocess import ReprocessProcessor
from tests.fixtures.media import probe
from tests.integration.media.conftest import ClipLibrary, Job


def decoded(path: Path) -> tuple[int, int]:
    """(width, height) of an image OpenCV can decode."""
    image = cv2.imread(str(path))
    assert image is not None, f"{path.name} does not decode"
    return image.shape[1], image.shape[0]


def test_the_poster_is_one_decodable_frame_no_wider_than_asked(clips: ClipLibrary, tmp_path: Path) -> None:
    clip = probe_media(clips.get("poster.mp4", width=640, height=360, duration=2.0))
    out = tmp_path / "poster.jpg"
    at = poster_frame(clip, out, max_width=320)
    assert at == pytest.approx(0.2)
    assert decoded(out) == (320, 180)


def test_a_poster_asked_past_the_end_falls_back_to_the_first_frame(clips: ClipLibrary, tmp_path: Path) -> None:
    clip = probe_media(clips.get("poster.mp4", width=640, height=360, duration=2.0))
    out = tmp_path / "late.jpg"
    assert poster_frame(clip, out, seconds=60) == 0.0
    assert decoded(out) == (640, 360)


def test_the_storyboard_is_a_grid_of_evenly_spaced_thumbnails(clips: ClipLibrary, tmp_path: Path) -> None:
    clip = probe_media(clips.get("board.mp4", width=640, height=360, duration=4.0, audio=False))
    layout = storyboard_layout(clip, count=20, columns=2, tile_width=100)
    assert (layout.count, layout.columns, layout.rows, layout.interval) == (4, 2, 2, 1.0)
    out = tmp_path / "board.jpg"
    storyboard(clip, out, layout=layout)
    assert decoded(out) == (2 * layout.tile_width, 2 * layout.tile_height)


def test_a_reprocess_makes_a_web_rendition_a_poster_and_a_storyboard(clips: ClipLibrary, job: Job) -> None:
    job.add(clips.get("tall.mp4", width=720, height=1280, duration=2.0, fps=25))
    entered: list[str] = []
    reports: list[tuple[float, str]] = []
    ctx = job.ctx(
        task_type="video_reprocess",
        config={"video_id": "v1"},
        enter=entered.append,
        report=lambda f, d: reports.append((f, d)),
    )
    result = process(ctx)
    assert entered == ["probe", "rendition", "poster", "storyboard"]
    assert [s.name for s in job_stages(process, "video_reprocess")][1:-1] == entered
    streams = {s["codec_type"]: s for s in probe(result.path)["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert (streams["video"]["width"], streams["video"]["height"]) == (720, 1280)  # short side already <= 1080
    head = result.path.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)  # +faststart
    assert result.info["analysis"]["video"] == {"codec": "h264", "width": 720, "height": 1280}
    roles = {extra.role: extra for extra in result.extras}
    assert set(roles) == {"poster", "storyboard"}
    assert decoded(roles["poster"].path) == (720, 1280)
    assert roles["storyboard"].info["count"] == 2
    assert decoded(roles["storyboard"].path)[0] == roles["storyboard"].info["tile_width"] * 2


def test_a_large_video_is_scaled_to_1080p_and_a_silent_one_stays_silent(clips: ClipLibrary, job: Job) -> None:
    job.add(clips.get("wide.mp4", width=2560, height=1440, duration=1.0, audio=False, fps=10))
    result = ReprocessProcessor()(job.ctx(task_type="video_reprocess"))
    streams = list(probe(result.path)["streams"])
    assert [(s["codec_type"], s.get("width"), s.get("height")) for s in streams] == [("video", 1920, 1080)]


def test_a_file_that_is_not_a_video_is_refused_with_a_clear_error(job: Job) -> None:
    job.write("notes.mp4", b"this is not a video at all" * 100)
    with pytest.raises(Exception) as caught:
        ReprocessProcessor()(job.ctx(task_type="video_reprocess"))
    assert getattr(caught.value, "code", None) == "unsupported_format"
    assert job.only_inputs_left()


def test_the_rendition_plays(clips: ClipLibrary, job: Job) -> None:
    job.add(clips.get("poster.mp4", width=640, height=360, duration=2.0))
    result = ReprocessProcessor()(job.ctx(task_type="video_reprocess"))
    decoded_frames = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(result.path)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert int(decoded_frames) == 60
