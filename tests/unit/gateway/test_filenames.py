"""Display names and Content-Disposition built from untrusted client file names."""

from __future__ import annotations

import re

import pytest

from mediacraft.gateway.disposition import content_disposition, prompt_slug, result_filename
from mediacraft.gateway.filenames import MAX_NAME, display_name

HOSTILE = [
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "clip\x00.mp4",
    "a\r\nSet-Cookie: x=1.mp4",
    "evil\u202egnp.mp4",
    "\u2066name\u2069.mp4",
    "x" * 300 + ".mp4",
    '"quoted"; filename=other.mp4',
    "",
    "...",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_display_names_hold_no_path_control_or_bidi_characters(raw: str) -> None:
    name = display_name(raw)
    assert name and len(name) <= MAX_NAME
    assert "/" not in name and "\\" not in name
    assert not any(ord(c) < 32 or c in "\u202e\u2066\u2069\x7f" for c in name)
    assert name not in (".", "..")


def test_a_long_name_keeps_its_extension() -> None:
    assert display_name("x" * 300 + ".mp4").endswith(".mp4")


def test_plain_and_unicode_names_survive() -> None:
    assert display_name("holiday clip.mp4") == "holiday clip.mp4"
    assert display_name("视频 1.mp4") == "视频 1.mp4"


@pytest.mark.parametrize("raw", [*HOSTILE, "视频.mp4", "naïve café.mkv"])
def test_content_disposition_cannot_be_broken_out_of(raw: str) -> None:
    header = content_disposition(raw)
    assert "\r" not in header and "\n" not in header
    header.encode("latin-1")  # a header must be latin-1 safe
    match = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]*)', header)
    assert match is not None, header
    assert ";" not in match.group(1)


def test_result_names_derive_from_the_upload_name_and_result_extension() -> None:
    assert result_filename("my clip.mov", "watermark_removal", "result.mp4") == "my clip_clean.mp4"
    assert result_filename(None, "video_merge", "result.mp4") == "video_merge_merged.mp4"


TASK_ID = "3f2a9c1b5d7e4f60a1b2c3d4e5f60718"


def test_a_generated_image_is_named_from_its_prompt_and_size() -> None:
    config = {"prompt": "Waves at dusk", "width": 1280, "height": 720}
    assert result_filename(None, "image_generation", "image.png", config=config, task_id=TASK_ID) == (
        "waves-at-dusk-1280x720-3f2a9c1b.png"
    )
    video = {"prompt": "A cat, walking; slowly!", "width": 640, "height": 360, "duration_seconds": 4}
    assert result_filename(None, "video_generation", "video.mp4", config=video, task_id=TASK_ID) == (
        "a-cat-walking-slowly-640x360-3f2a9c1b.mp4"
    )
    several = {"prompt": "Waves at dusk", "width": 512, "height": 512, "count": 3}
    assert result_filename(None, "image_generation", "images.zip", config=several, task_id=TASK_ID) == (
        "waves-at-dusk-512x512-3f2a9c1b.zip"
    )


def test_generated_names_never_collide() -> None:
    config = {"prompt": "Waves at dusk", "width": 1280, "height": 720}
    names = {
        result_filename(None, "image_generation", "image.png", config=config, task_id=f"{n:08x}" + "0" * 24)
        for n in range(500)
    }
    assert len(names) == 500


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("Waves at dusk", "waves-at-dusk"),
        ("  WAVES   at\tdusk... ", "waves-at-dusk"),
        ("海边的黄昏", "海边的黄昏"),
        ("海边的黄昏，远处有灯塔", "海边的黄昏-远处有灯塔"),
        ("Ｆｕｌｌｗｉｄｔｈ letters", "fullwidth-letters"),
        ("one two three four five six seven eight", "one-two-three-four-five-six"),
        ("a" * 100, "a" * 40),
        ("../../etc/passwd", "etc-passwd"),
        ("\u202egpj.exe", "gpj-exe"),
        ("!!! ???", ""),
        ("snake_case_words", "snake-case-words"),
    ],
)
def test_a_prompt_becomes_a_short_safe_stem(prompt: str, slug: str) -> None:
    assert prompt_slug(prompt) == slug


def test_a_prompt_without_words_or_a_size_still_names_the_file() -> None:
    assert result_filename(None, "image_generation", "image.png", config={"prompt": "!!!"}, task_id=TASK_ID) == (
        "image-3f2a9c1b.png"
    )
    assert result_filename(None, "video_generation", None, config={}, task_id="") == "video.bin"


@pytest.mark.parametrize("prompt", HOSTILE)
def test_a_hostile_prompt_makes_a_safe_header(prompt: str) -> None:
    name = result_filename(None, "image_generation", "image.png", config={"prompt": prompt}, task_id=TASK_ID)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    header = content_disposition(name)
    assert "\r" not in header and "\n" not in header
    header.encode("latin-1")
