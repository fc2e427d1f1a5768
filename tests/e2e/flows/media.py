"""What a client can check about the media it got back: streams and durations (ffprobe), where the
logo is on a preview frame, and how close a region of a result is to ground truth (PSNR)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.fixtures.media import probe


@dataclass(frozen=True)
class Streams:
    """The facts of a played-back file the tests compare."""

    duration: float
    video: dict
    audio: dict | None


def streams(path: Path) -> Streams:
    """ffprobe of a downloaded result; fails if it has no video stream."""
    doc = probe(path)
    video = [s for s in doc["streams"] if s["codec_type"] == "video"]
    audio = [s for s in doc["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1, f"{path.name}: {len(video)} video streams"
    return Streams(float(doc["format"]["duration"]), video[0], audio[0] if audio else None)


def decodes(path: Path) -> int:
    """Decode every video frame, as a player would; returns how many. Fails on any decode error."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and not done.stderr.strip(), f"{path.name} does not decode cleanly: {done.stderr[:500]}"
    return int(done.stdout.strip().strip(","))


def find_logo(jpeg: bytes) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the largest opaque white box on a frame: how a person spots the logo to pick."""
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "the preview is not a decodable image"
    white = (image.min(axis=2) > 200).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(white)
    assert count > 1, "no white box on the preview frame"
    x, y, w, h, _ = max(stats[1:], key=lambda s: int(s[2]) * int(s[3]))
    return int(x), int(y), int(w), int(h)


def region_luma(path: Path, box: Sequence[int]) -> np.ndarray:
    """The luma of one region of every frame, decoded by ffmpeg: shape (frames, h, w), uint8."""
    x, y, w, h = box
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-vf",
            f"crop={w}:{h}:{x}:{y}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "pipe:1",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two equally shaped uint8 arrays, in dB (inf when identical)."""
    assert a.shape == b.shape, f"{a.shape} != {b.shape}"
    diff = a.astype(np.int64) - b
    squared = float(np.vdot(diff, diff))
    return float("inf") if squared == 0 else float(10 * np.log10(255.0**2 * diff.size / squared))
