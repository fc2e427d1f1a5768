"""Container recognition from bytes: what is accepted, what is refused and why."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mediacraft.shared.media import InvalidMedia, UnsupportedFormat, sniff_bytes, sniff_file
from mediacraft.shared.media.sniff import JPEG, MATROSKA, MP4, PNG, WEBP


def box(kind: bytes, payload: bytes = b"", size: int | None = None) -> bytes:
    return struct.pack(">I4s", size if size is not None else 8 + len(payload), kind) + payload


def ebml(segment_size: int, body: bytes) -> bytes:
    header_payload = b"\x42\x82\x88matroska"  # DocType
    header = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header_payload)]) + header_payload
    size = (0x01 << 56 | segment_size).to_bytes(8, "big")  # 8-byte vint
    return header + b"\x18\x53\x80\x67" + size + body


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (FTYP + box(b"moov"), MP4),
        (box(b"moov", b"\x00" * 8), MP4),
        (box(b"mdat", size=1) + struct.pack(">Q", 100), MP4),
        (ebml(10, b"\x00" * 10), MATROSKA),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", WEBP),
    ],
)
def test_known_magic_is_recognised(head: bytes, expected: object) -> None:
    assert sniff_bytes(head) is expected


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:10\nhttp://127.0.0.1/x.ts\n", "HLS playlist"),
        (b"\xef\xbb\xbf  #extm3u\n", "HLS playlist"),
        (b"ffconcat version 1.0\nfile /etc/passwd\n", "ffconcat list"),
        (b"<!DOCTYPE html><html><body>", "HTML page"),
        (b"\n<html><head>", "HTML page"),
        (b"<?xml version='1.0'?><MPD>", "XML document"),
        (b"[playlist]\nFile1=http://x\n", "PLS playlist"),
        (b"", "empty"),
        (b"\x00\x01\x02\x03" * 4, "not a supported"),
        (b"\x00\x00\x00\x04ftypisom", "not a supported"),  # box size below 8 is no box
    ],
)
def test_other_content_is_refused_with_a_clear_message(head: bytes, said: str) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        sniff_bytes(head)
    assert caught.value.code == "unsupported_format"
    assert said in caught.value.message


def test_a_complete_mp4_structure_passes(tmp_path: Path) -> None:
    path = tmp_path / "ok.mp4"
    path.write_bytes(FTYP + box(b"moov", b"\x00" * 32) + box(b"mdat", b"\x00" * 100))
    assert sniff_file(path) is MP4


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (FTYP + box(b"moov", b"\x00" * 32) + box(b"mdat", b"\x00" * 50, size=8 + 100), "truncated"),
        (FTYP + box(b"mdat", b"\x00" * 100), "no movie header"),
        (FTYP + box(b"moov", b"\x00" * 32) + b"\x00\x00\x00\x05free", "invalid size"),
        (FTYP + box(b"moov", b"\x00" * 32) + b"\x00\x00", "truncated"),
        (FTYP + box(b"moov", b"\x00" * 32) + box(b"mdat", size=1) + struct.pack(">Q", 10**9), "truncated"),
    ],
)
def test_a_broken_mp4_structure_is_invalid_media(tmp_path: Path, content: bytes, said: str) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(InvalidMedia) as caught:
        sniff_file(path)
    assert caught.value.code == "invalid_media"
    assert said in caught.value.message


def test_a_matroska_segment_longer_than_the_file_is_truncated(tmp_path: Path) -> None:
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    whole.write_bytes(ebml(100, b"\x00" * 100))
    cut.write_bytes(ebml(100, b"\x00" * 40))
    assert sniff_file(whole) is MATROSKA
    with pytest.raises(InvalidMedia, match="truncated"):
        sniff_file(cut)


def test_a_matroska_segment_of_unknown_size_is_left_to_ffprobe(tmp_path: Path) -> None:
    path = tmp_path / "live.mkv"
    path.write_bytes(ebml((1 << 56) - 1, b"\x00" * 40))  # all ones: size unknown
    assert sniff_file(path) is MATROSKA
