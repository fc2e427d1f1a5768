"""Clips for the watermark quality suite, rendered with ffmpeg: content (panning, zooming, static)
with and without a mark (translucent white text with an outline, a translucent coloured logo,
an opaque box), so that the clean render is the ground truth."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

W, H, FPS, SECONDS = 480, 270, 25, 3


@dataclass(frozen=True)
class Clip:
    name: str
    marked: Path
    clean: Path
    box: tuple[int, int, int, int]  # the mark's true box x, y, w, h
    moving: bool
    opaque: bool


def _texture(path: Path, width: int, height: int) -> None:
    rng = np.random.default_rng(7)
    img = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((64, 0.5), (16, 0.3), (4, 0.2)):
        small = rng.random((height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        img += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img * 255, 0, 255).astype(np.uint8)
    for _ in range(60):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(img, (x, y), int(rng.integers(6, 30)), c, -1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)


def _mark(path: Path, kind: str) -> tuple[int, int, int, int, int, int]:
    """An RGBA PNG of the mark; returns its drawn box (x, y, w, h) inside the image and the image size."""
    if kind == "text":
        w, h = 150, 40
        rgba = np.zeros((h, w, 4), np.uint8)
        alpha = np.zeros((h, w), np.uint8)
        colour = np.zeros((h, w, 3), np.uint8)
        cv2.putText(alpha, "LOGO tv", (6, 31), cv2.FONT_HERSHEY_DUPLEX, 1.0, 255, 4, cv2.LINE_AA)
        cv2.putText(colour, "LOGO tv", (6, 31), cv2.FONT_HERSHEY_DUPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
        rgba[..., :3] = colour
        rgba[..., 3] = (alpha.astype(np.float32) * 0.55).astype(np.uint8)  # white fill, dark outline
    elif kind == "colour":
        w, h = 70, 70
        rgba = np.zeros((h, w, 4), np.uint8)
        cv2.circle(rgba, (35, 35), 33, (40, 120, 230, int(255 * 0.45)), -1, cv2.LINE_AA)
        cv2.rectangle(rgba, (22, 22), (48, 48), (230, 200, 30, int(255 * 0.6)), -1)
    else:  # opaque box
        w, h = 64, 40
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = (30, 30, 200)
        rgba[..., 3] = 255
        cv2.putText(rgba, "HD", (12, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255, 255), 2)
    cv2.imwrite(str(path), rgba)
    ys, xs = np.nonzero(rgba[..., 3])
    return int(xs.min()), int(ys.min()), int(xs.max()) - int(xs.min()) + 1, int(ys.max()) - int(ys.min()) + 1, w, h


def _run(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def render(folder: Path, motion: str, mark: str, where: str) -> Clip:
    """Render the clip `motion` (pan, zoom, static) with `mark` (text, colour, box) `where` (corner, middle)."""
    folder.mkdir(parents=True, exist_ok=True)
    tex = folder / "texture.png"
    if not tex.exists():
        _texture(tex, 1600, 600)
    name = f"{motion}-{mark}-{where}"
    png = folder / f"{mark}.png"
    bx, by, bw, bh, mw, mh = _mark(png, mark)
    x, y = (W - mw - 16, 14) if where == "corner" else ((W - mw) // 2, (H - mh) // 2)
    if motion == "pan":
        content = f"crop={W}:{H}:x='20+t*120':y=100"
    elif motion == "zoom":
        content = (
            f"crop=800:450:400:75,zoompan=z='1.2+0.004*on':d=1:s={W}x{H}:fps={FPS}"
            ":x='iw/2-(iw/zoom/2)+on*1.5':y='ih/2-(ih/zoom/2)+on*0.5'"
        )
    else:
        content = f"crop={W}:{H}:200:100"
    clean, marked = folder / f"{name}.clean.mp4", folder / f"{name}.mp4"
    enc = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "10", "-pix_fmt", "yuv420p", "-t", str(SECONDS)]
    src = ["-loop", "1", "-framerate", str(FPS), "-i", str(tex)]
    if not clean.exists():
        _run([*src, "-vf", f"{content},format=yuv420p", *enc, str(clean)])
    if not marked.exists():
        _run(
            [
                *src,
                "-i",
                str(png),
                "-filter_complex",
                f"[0]{content}[c];[c][1]overlay={x}:{y},format=yuv420p",
                *enc,
                str(marked),
            ]
        )
    return Clip(name, marked, clean, (x + bx, y + by, bw, bh), motion != "static", mark == "box")
