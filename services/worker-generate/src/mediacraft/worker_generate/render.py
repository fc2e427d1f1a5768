"""Pictures the local provider draws with numpy and OpenCV: pure functions, no files, no ffmpeg.

Everything is decided by the seed and the style, so the same parameters always give the same
pixels (a retry reproduces its first attempt). OpenCV's built-in Hershey fonts draw ASCII only:
the caption folds accents away (é -> e) and draws `?` for characters it cannot fold (CJK, emoji).
"""

from __future__ import annotations

import colorsys
import textwrap
import unicodedata

import cv2
import numpy as np
from numpy.typing import NDArray

FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_CAPTION_LINES = 4
LABEL = "MediaCraft local renderer"

BGR = tuple[int, int, int]


def palette(style: str | None, rng: np.random.Generator, size: int = 4) -> list[BGR]:
    """`size` colours (BGR) in the character of `style` (natural when unset)."""
    base = float(rng.random())
    colours = []
    for i in range(size):
        if style == "vivid":
            hue, sat, val = (base + i / size + rng.uniform(-0.05, 0.05)) % 1, rng.uniform(0.8, 1), rng.uniform(0.85, 1)
        elif style == "pastel":
            hue, sat, val = (base + i / size) % 1, rng.uniform(0.18, 0.35), rng.uniform(0.9, 1)
        elif style == "mono":
            hue, sat, val = base, 0.0, 0.15 + 0.75 * i / max(1, size - 1)
        else:
            hue, sat, val = (base + rng.uniform(-0.12, 0.12)) % 1, rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.85)
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colours.append((round(b * 255), round(g * 255), round(r * 255)))
    return colours


def background(width: int, height: int, colours: list[BGR], rng: np.random.Generator) -> np.ndarray:
    """A linear gradient between the first two colours at a seeded angle, with soft blobs on top."""
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))
    ramp -= ramp.min()
    ramp /= max(float(ramp.max()), 1.0)
    c0, c1 = (np.array(c, dtype=np.float32) for c in colours[:2])
    image = c0 * (1 - ramp[..., None]) + c1 * ramp[..., None]
    # Blobs are drawn and blurred at quarter size, then enlarged: a large blur at full size is slow.
    small_w, small_h = max(8, width // 4), max(8, height // 4)
    layer = np.zeros((small_h, small_w, 3), np.float32)
    alpha = np.zeros((small_h, small_w), np.float32)
    for _ in range(int(rng.integers(3, 8))):
        centre = (int(rng.integers(0, small_w)), int(rng.integers(0, small_h)))
        radius = int(rng.integers(max(2, min(small_w, small_h) // 10), max(3, min(small_w, small_h) // 3)))
        colour = colours[int(rng.integers(0, len(colours)))]
        cv2.circle(layer, centre, radius, tuple(float(c) for c in colour), -1, cv2.LINE_AA)
        cv2.circle(alpha, centre, radius, 0.55, -1, cv2.LINE_AA)
    sigma = max(1.0, min(small_w, small_h) / 20)
    layer_full = cv2.resize(cv2.GaussianBlur(layer, (0, 0), sigma), (width, height), interpolation=cv2.INTER_CUBIC)
    alpha_full = cv2.resize(cv2.GaussianBlur(alpha, (0, 0), sigma), (width, height), interpolation=cv2.INTER_CUBIC)
    alpha_full = np.clip(alpha_full, 0, 1)[..., None]
    blended: NDArray[np.float32] = image * (1 - alpha_full) + layer_full * alpha_full
    return np.clip(blended, 0, 255).astype(np.uint8)


def ascii_caption(text: str) -> str:
    """The prompt as Hershey fonts can draw it: accents folded, other characters as `?`."""
    out = []
    for char in " ".join(text.split()):
        folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(folded if folded else ("?" if not unicodedata.combining(char) else ""))
    return "".join(out)


def caption_overlay(width: int, height: int, prompt: str, label: str) -> np.ndarray:
    """A BGRA layer: the prompt wrapped in a translucent band at the bottom, a small label on top."""
    colour = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    scale = max(0.35, min(width, height) / 900)
    thickness = max(1, round(scale * 2))
    lines = _wrap(ascii_caption(prompt), width - 2 * _margin(width), scale, thickness)
    (_, line_h), baseline = cv2.getTextSize("Ag", FONT, scale, thickness)
    step = line_h + baseline + max(2, line_h // 3)
    band_h = min(height, step * len(lines) + 2 * _margin(height))
    alpha[height - band_h :] = 150  # darkens what lies under the text, whatever its colour
    y = height - band_h + _margin(height) + line_h
    for line in lines:
        _text(colour, alpha, line, (_margin(width), y), scale, thickness)
        y += step
    label_scale = max(0.4, scale * 0.6)
    label_thickness = max(1, thickness - 1)
    (_, label_h), _ = cv2.getTextSize(label, FONT, label_scale, label_thickness)
    _text(colour, alpha, label, (_margin(width), _margin(height) + label_h), label_scale, label_thickness)
    return np.dstack([colour, alpha])


def compose(image: np.ndarray, overlay: np.ndarray) -> np.ndarray:
    """Alpha-blend a BGRA overlay onto a BGR image (black under the overlay's alpha, then its colour)."""
    alpha = overlay[..., 3:4].astype(np.float32) / 255
    blended = image.astype(np.float32) * (1 - alpha) + overlay[..., :3].astype(np.float32) * alpha
    return np.clip(blended, 0, 255).astype(np.uint8)


def render_image(width: int, height: int, prompt: str, style: str | None, seed: int, label: str = LABEL) -> np.ndarray:
    """The full picture for one image: background from the seed and style, prompt drawn on it."""
    rng = np.random.default_rng(seed)
    colours = palette(style, rng)
    return compose(background(width, height, colours, rng), caption_overlay(width, height, prompt, label))


def _margin(extent: int) -> int:
    return max(4, extent // 40)


def _text(
    colour: np.ndarray, alpha: np.ndarray, text: str, origin: tuple[int, int], scale: float, thickness: int
) -> None:
    """White text with a dark outline: strokes in `colour`, their antialiased coverage in `alpha`.

    Colour and coverage are drawn apart: antialiasing straight into a BGRA image mixes alpha like
    a colour, which leaves half-transparent fringes through which the background shows.
    The outline is the same text shifted by a pixel, not a thicker stroke: Hershey glyphs advance
    further when drawn thicker.
    """
    x, y = origin
    coverage = np.zeros_like(alpha)
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        cv2.putText(colour, text, (x + dx, y + dy), FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)
        cv2.putText(coverage, text, (x + dx, y + dy), FONT, scale, 255, thickness, cv2.LINE_AA)
    cv2.putText(colour, text, origin, FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    cv2.putText(coverage, text, origin, FONT, scale, 255, thickness, cv2.LINE_AA)
    np.maximum(alpha, coverage, out=alpha)


def _wrap(text: str, max_width: int, scale: float, thickness: int) -> list[str]:
    """Greedy word wrap by rendered width; at most MAX_CAPTION_LINES, the last one ellipsised."""
    (char_w, _), _ = cv2.getTextSize("n", FONT, scale, thickness)
    per_line = max(4, max_width // max(1, char_w))
    # Glyph widths vary: narrow the wrap until every line renders inside the width.
    while True:
        fitted = textwrap.wrap(text, width=per_line, break_long_words=True) or [""]
        too_wide = any(
            cv2.getTextSize(line, FONT, scale, thickness)[0][0] > max_width for line in fitted[:MAX_CAPTION_LINES]
        )
        if not too_wide or per_line <= 4:
            break
        per_line -= max(1, per_line // 10)
    if len(fitted) > MAX_CAPTION_LINES:
        fitted = fitted[:MAX_CAPTION_LINES]
        fitted[-1] = fitted[-1][: max(1, len(fitted[-1]) - 3)] + "..."
    return fitted
