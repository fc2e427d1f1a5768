"""The local provider makes real media from the parameters: images that decode, videos that play."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import pytest

from mediacraft.shared.worker.contract import JobCancelledError, JobContext, ProcessorResult
from mediacraft.worker_generate.processor import GenerateProcessor, build_processor
from mediacraft.worker_generate.providers.local import LocalProvider
from mediacraft.worker_generate.settings import GenerateSettings


def run(tmp_path: Path, task_type: str, config: dict[str, Any], **ctx: Any) -> ProcessorResult:
    workdir = tmp_path / "job"
    workdir.mkdir(parents=True, exist_ok=True)
    context = JobContext(
        task_id="task-1",
        attempt=1,
        workdir=workdir,
        inputs=[],
        input_names=[],
        config=config,
        task_type=task_type,
        **ctx,
    )
    return GenerateProcessor(LocalProvider())(context)


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=width,height,nb_read_frames,codec_name,pix_fmt:format=duration,format_name",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def test_an_image_opens_at_the_asked_size_and_names_the_local_provider(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "image_generation",
        {"prompt": "A lighthouse in a storm", "width": 640, "height": 384, "style": "vivid", "seed": 99},
    )
    image = cv2.imread(str(result.path), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.shape == (384, 640, 3)
    assert image.std() > 5  # a picture, not a flat fill
    assert (result.filename, result.content_type) == ("image.png", "image/png")
    assert result.media is not None and (result.media.width, result.media.height) == (640, 384)
    assert result.info["provider"] == "local" and "local renderer" in result.info["renderer"]
    assert (result.info["seed"], result.info["kind"], result.info["count"]) == (99, "image", 1)


def test_the_same_seed_gives_the_same_image(tmp_path: Path) -> None:
    config = {"prompt": "fox", "width": 128, "height": 128, "seed": 4}
    first = run(tmp_path / "a", "image_generation", config).path.read_bytes()
    second = run(tmp_path / "b", "image_generation", config).path.read_bytes()
    assert first == second


def test_several_images_come_as_one_zip_of_different_pictures(tmp_path: Path) -> None:
    result = run(tmp_path, "image_generation", {"prompt": "three cats", "size": "200x120", "count": 3})
    assert (result.filename, result.content_type) == ("images.zip", "application/zip")
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
        assert names == ["image-1.png", "image-2.png", "image-3.png"]
        pictures = [archive.read(name) for name in names]
    extracted = tmp_path / "x.png"
    for data in pictures:
        extracted.write_bytes(data)
        decoded = cv2.imread(str(extracted))
        assert decoded is not None and decoded.shape == (120, 200, 3)
    assert len(set(pictures)) == 3
    assert [i["width"] for i in result.info["images"]] == [200, 200, 200]


def test_a_video_decodes_completely_with_the_asked_size_duration_and_frames(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "video_generation",
        {
            "prompt": "ocean waves at sunset",
            "width": 320,
            "height": 240,
            "duration_seconds": 2,
            "fps": 12,
            "style": "pastel",
        },
    )
    assert (result.filename, result.content_type) == ("video.mp4", "video/mp4")
    decode = subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", str(result.path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert decode.returncode == 0 and decode.stderr == ""
    probed = ffprobe(result.path)
    stream = probed["streams"][0]
    assert (stream["codec_name"], stream["pix_fmt"], stream["width"], stream["height"]) == ("h264", "yuv420p", 320, 240)
    assert int(stream["nb_read_frames"]) == 24
    assert float(probed["format"]["duration"]) == pytest.approx(2.0, abs=1 / 12)
    assert result.media is not None and result.media.duration == pytest.approx(2.0, abs=1 / 12)
    assert result.info["provider"] == "local" and result.info["duration_seconds"] == 2.0


def test_a_cancel_stops_the_video_encoder_and_leaves_nothing(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def report(fraction: float, detail: str = "") -> None:
        if fraction > 0 and not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    with pytest.raises(JobCancelledError):
        run(
            tmp_path,
            "video_generation",
            {"prompt": "long", "width": 1280, "height": 720, "duration_seconds": 30, "fps": 30},
            cancel_event=cancel,
            report=report,
        )
    assert time.monotonic() - cancelled_at[0] < 3  # a 30 s video is not rendered to the end
    assert list((tmp_path / "job").iterdir()) == []


def test_the_default_settings_render_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIACRAFT_GENERATE_PROVIDER", raising=False)
    context = JobContext(
        task_id="t",
        attempt=1,
        workdir=tmp_path,
        inputs=[],
        input_names=[],
        config={"prompt": "hello", "width": 96, "height": 64},
        task_type="image_generation",
    )
    result = build_processor(GenerateSettings())(context)
    assert result.info["provider"] == "local"
    image = cv2.imread(str(result.path))
    assert image is not None and image.shape == (64, 96, 3)
