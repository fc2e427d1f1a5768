"""Display names and Content-Disposition built from untrusted client file names."""

from __future__ import annotations

import re

import pytest

from mediacraft.gateway.disposition import content_disposition, result_filename
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
