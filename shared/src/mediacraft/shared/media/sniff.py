"""Recognise a file's real container from its bytes, before any ffmpeg tool sees it.

File names and client-sent content types are never trusted: an HLS playlist or an ffconcat list
renamed `.mp4` would make ffmpeg open URLs or local files. `sniff_bytes(head)` looks at the first
`SNIFF_BYTES` bytes (the gateway can call it on the first chunk of an upload); `sniff_file(path)`
does the same on a file and then walks the container's top-level structure to refuse a truncated
file from its headers alone.

Supported containers (anything else raises `UnsupportedFormat`):

| name       | magic                         | ffmpeg demuxer forced with -f | kind  |
|------------|-------------------------------|-------------------------------|-------|
| `mp4`      | ISO BMFF box (`ftyp`, ...)    | `mov` (mp4, mov, m4v, 3gp)    | video |
| `matroska` | EBML header 1A 45 DF A3       | `matroska` (mkv, webm)        | video |
| `jpeg`     | FF D8 FF                      | `jpeg_pipe`                   | image |
| `png`      | 89 50 4E 47 0D 0A 1A 0A       | `png_pipe`                    | image |
| `webp`     | RIFF....WEBP                  | `webp_pipe`                   | image |
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from mediacraft.shared.media.errors import InvalidMedia, UnsupportedFormat

SNIFF_BYTES = 64
# A real MP4 has a handful of top-level boxes; thousands mean a crafted file.
_MAX_TOP_LEVEL_BOXES = 4096


@dataclass(frozen=True)
class ContainerFormat:
    """A container we accept: its short name, the demuxer to force, and what it holds."""

    name: str
    demuxer: str
    kind: Literal["video", "image"]
    demuxer_options: tuple[str, ...] = ()  # passed before -i, pinning safe demuxer defaults


# A QuickTime `dref` can point at another file; these are ffmpeg's defaults, pinned on purpose.
MP4 = ContainerFormat("mp4", "mov", "video", ("-enable_drefs", "0", "-use_absolute_path", "0"))
MATROSKA = ContainerFormat("matroska", "matroska", "video")
JPEG = ContainerFormat("jpeg", "jpeg_pipe", "image")
PNG = ContainerFormat("png", "png_pipe", "image")
WEBP = ContainerFormat("webp", "webp_pipe", "image")
SUPPORTED_FORMATS: tuple[ContainerFormat, ...] = (MP4, MATROSKA, JPEG, PNG, WEBP)

# Box types that may open an ISO BMFF / QuickTime file (old QuickTime files lack `ftyp`).
_MP4_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT_ID = b"\x18\x53\x80\x67"

# Text formats that ffmpeg would follow to other files or URLs, named so the message is clear.
_TEXT_REFUSALS: tuple[tuple[bytes, str], ...] = (
    (b"#extm3u", "an HLS playlist"),
    (b"ffconcat", "an ffconcat list"),
    (b"<!doctype", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<?xml", "an XML document (for example a DASH manifest)"),
    (b"<", "a markup document"),
    (b"[playlist]", "a PLS playlist"),
    (b"#", "a text file"),
)


def sniff_bytes(head: bytes) -> ContainerFormat:
    """Return the container whose magic bytes open `head`, or raise UnsupportedFormat."""
    if len(head) >= 12 and head[4:8] in _MP4_FIRST_BOXES and _plausible_box_size(head):
        return MP4
    if head.startswith(_EBML_MAGIC):
        return MATROSKA
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    raise UnsupportedFormat(_refusal_message(head))


def sniff_file(path: Path) -> ContainerFormat:
    """Sniff a file's container and refuse it when its top-level structure is truncated."""
    with open(path, "rb") as f:
        container = sniff_bytes(f.read(SNIFF_BYTES))
        size = os.fstat(f.fileno()).st_size
        if container is MP4:
            check_mp4_structure(f, size)
        elif container is MATROSKA:
            check_matroska_structure(f, size)
    return container


def check_mp4_structure(f: BinaryIO, size: int) -> None:
    """Walk top-level boxes: each must fit in the file, and a `moov` must be present."""
    offset, seen_moov, count = 0, False, 0
    while offset < size:
        count += 1
        if count > _MAX_TOP_LEVEL_BOXES:
            raise InvalidMedia("the MP4 file has an implausible structure")
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            raise InvalidMedia("the MP4 file is truncated")
        box_size, box_type = struct.unpack(">I4s", header[:8])
        if box_size == 1:
            if len(header) < 16:
                raise InvalidMedia("the MP4 file is truncated")
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - offset  # "extends to the end of the file"
        if box_size < 8:
            raise InvalidMedia("the MP4 file is corrupt (a box has an invalid size)")
        if offset + box_size > size:
            raise InvalidMedia("the MP4 file is truncated")
        seen_moov = seen_moov or box_type == b"moov"
        offset += box_size
    if not seen_moov:
        raise InvalidMedia("the MP4 file has no movie header (moov): it is incomplete")


def check_matroska_structure(f: BinaryIO, size: int) -> None:
    """Check the EBML header is followed by a Segment that fits in the file when its size is known."""
    f.seek(4)
    header_size, known = _read_ebml_size(f)
    if not known:
        raise InvalidMedia("the Matroska file is corrupt (EBML header of unknown size)")
    f.seek(header_size, os.SEEK_CUR)
    if f.read(4) != _MATROSKA_SEGMENT_ID:
        raise InvalidMedia("the Matroska file is corrupt (no segment after the header)")
    segment_size, known = _read_ebml_size(f)
    # A live-written file may leave the segment size unknown; ffprobe judges those.
    if known and f.tell() + segment_size > size:
        raise InvalidMedia("the Matroska file is truncated")


def _read_ebml_size(f: BinaryIO) -> tuple[int, bool]:
    """Read an EBML variable-length size; return (value, known) where all ones means unknown."""
    first = f.read(1)
    if not first:
        raise InvalidMedia("the Matroska file is truncated")
    lead = first[0]
    length = 1
    while length <= 8 and not lead & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        raise InvalidMedia("the Matroska file is corrupt (invalid element size)")
    rest = f.read(length - 1)
    if len(rest) != length - 1:
        raise InvalidMedia("the Matroska file is truncated")
    value = lead & (0xFF >> length)
    for byte in rest:
        value = (value << 8) | byte
    return value, value != (1 << (7 * length)) - 1


def _plausible_box_size(head: bytes) -> bool:
    box_size = struct.unpack(">I", head[:4])[0]
    return box_size in (0, 1) or box_size >= 8


def _refusal_message(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for prefix, what in _TEXT_REFUSALS:
        if text.startswith(prefix):
            return f"the file is {what}, not a video or image; upload the media file itself"
    if not head:
        return "the file is empty"
    return "the file is not a supported video (MP4, MOV, MKV, WebM) or image (JPEG, PNG, WebP)"
