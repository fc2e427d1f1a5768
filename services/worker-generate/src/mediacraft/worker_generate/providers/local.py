"""The built-in local provider: real media from the parameters, offline, with no generation model.

Images: a seeded gradient with soft shapes in the style's colours and the prompt drawn on it
(`render.render_image`), one PNG per requested image, seeds `seed, seed + 1, ...`.
Video: ffmpeg's `gradients` source (colours and motion from the seed and style) under a caption
layer drawn by OpenCV, encoded to H.264 yuv420p MP4 with `+faststart`, exactly
`round(duration * fps)` frames. The pixel work of the video runs in the ffmpeg subprocess, so the
worker's event loop keeps its heartbeats.

The result info names it: `{"provider": "local", "renderer": "MediaCraft local renderer ..."}`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mediacraft.shared.generation import MAX_SEED, ImageParams, VideoParams
from mediacraft.shared.media import LocalResourceError, run_ffmpeg
from mediacraft.shared.media.probe import file_url
from mediacraft.worker_generate.providers.base import GeneratedFile, Generation, GenerationRequest
from mediacraft.worker_generate.render import LABEL, caption_overlay, palette, render_image

RENDERER = "MediaCraft local renderer (offline, no generation model)"
DEFAULT_TIMEOUT = 10 * 60.0
MAX_VIDEO_BYTES = 512 * 1024**2


class LocalProvider:
    """Renders images with OpenCV and videos with ffmpeg, from the parameters alone."""

    name = "local"

    def __init__(self, *, preset: str = "veryfast", crf: int = 23, grace: float = 1.0) -> None:
        self.preset = preset
        self.crf = crf
        self.grace = grace

    def generate(self, request: GenerationRequest) -> Generation:
        """Write the requested images or video under `request.outdir`."""
        request.outdir.mkdir(parents=True, exist_ok=True)
        params = request.params
        files = self._images(request, params) if isinstance(params, ImageParams) else [self._video(request, params)]
        return Generation(files=files, info={"provider": self.name, "renderer": RENDERER})

    def close(self) -> None:
        """Nothing to release."""

    def _images(self, request: GenerationRequest, params: ImageParams) -> list[GeneratedFile]:
        files = []
        for number in range(params.count):
            request.check_cancelled()
            seed = (request.seed + number) % (MAX_SEED + 1)
            image = render_image(
                params.width, params.height, params.prompt, params.style, seed, label=f"{LABEL} - seed {seed}"
            )
            path = request.outdir / f"image-{number + 1}.png"
            _write(path, _encode(".png", image))
            files.append(GeneratedFile(path, "image/png"))
            request.report((number + 1) / params.count, "rendering")
        return files

    def _video(self, request: GenerationRequest, params: VideoParams) -> GeneratedFile:
        rng = np.random.default_rng(request.seed)
        colours = palette(params.style, rng, size=4)
        overlay = caption_overlay(params.width, params.height, params.prompt, f"{LABEL} - seed {request.seed}")
        caption = request.outdir / "caption.png"
        _write(caption, _encode(".png", overlay))
        output = request.outdir / "video.mp4"
        hexes = [f"0x{r:02x}{g:02x}{b:02x}" for b, g, r in colours]
        # The gradients source costs trigonometry per pixel; a smooth gradient drawn at a quarter of
        # the size and enlarged looks the same and renders about ten times faster.
        gradients = (
            f"gradients=s={max(16, params.width // 4)}x{max(16, params.height // 4)}:r={params.fps}"
            f":d={params.duration_seconds:g}:n={len(hexes)}:{':'.join(f'c{i}={h}' for i, h in enumerate(hexes))}"
            f":seed={request.seed}:speed={0.01 + 0.04 * float(rng.random()):.4f}"
            f",scale={params.width}:{params.height}:flags=bicubic"
        )
        run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                gradients,
                # our own PNG, opened as untrusted input would be: demuxer forced, files only
                "-protocol_whitelist",
                "file",
                "-format_whitelist",
                "png_pipe",
                "-f",
                "png_pipe",
                "-i",
                file_url(caption),
                "-filter_complex",
                "[0:v][1:v]overlay=0:0:format=rgb,format=yuv420p[v]",
                "-map",
                "[v]",
                "-an",
                "-frames:v",
                str(params.frame_count),
                "-r",
                str(params.fps),
                "-c:v",
                "libx264",
                "-preset",
                self.preset,
                "-crf",
                str(self.crf),
                "-movflags",
                "+faststart",
                str(output),
            ],
            outputs=[output],
            total_duration=params.duration_seconds,
            on_progress=lambda p: request.report(p.fraction or 0.0, "encoding"),
            cancel_event=request.cancel_event,
            timeout=request.timeout or DEFAULT_TIMEOUT,
            max_output_bytes=MAX_VIDEO_BYTES,
            grace=self.grace,
        )
        caption.unlink(missing_ok=True)
        return GeneratedFile(output, "video/mp4")


def _encode(ext: str, image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    if not ok:
        raise LocalResourceError(f"OpenCV could not encode the {ext} image")
    return buffer.tobytes()


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:  # a full or failing disk is the worker's trouble, not the request's
        path.unlink(missing_ok=True)
        raise LocalResourceError(f"could not write {path.name}: {exc.strerror}") from exc
