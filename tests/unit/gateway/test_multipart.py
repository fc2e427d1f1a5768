"""The streaming multipart reader: parts and data whatever the chunking, refusals of bad bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.multipart import MultipartReader, boundary_of

BOUNDARY = b"----b0undary"


def body(*parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disp.encode() + b"\r\n\r\n" + data + b"\r\n"
    return out + (b"--" + BOUNDARY + b"--\r\n" if close else b"")


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read_everything(data: bytes, size: int) -> list[tuple[str, str | None, bytes]]:
    reader = MultipartReader(chunks_of(data, size), BOUNDARY)
    out = []
    while (part := await reader.next_part()) is not None:
        buf = b""
        while (chunk := await reader.read_chunk()) is not None:
            buf += chunk
        out.append((part.name, part.filename, buf))
    return out


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
async def test_parts_come_out_whole_whatever_the_chunking(size: int) -> None:
    payload = bytes(range(256)) * 50 + b"\r\n--" + b"not-the-boundary"
    parts = [("task_type", None, b"video_merge"), ("file", "a.mp4", payload), ("file", "b.mp4", b"")]
    assert await read_everything(body(*parts), size) == parts


async def test_utf8_file_names_are_decoded() -> None:
    data = body(("file", "视频.mp4", b"x"))
    assert (await read_everything(data, 10))[0][1] == "视频.mp4"


async def test_a_truncated_body_is_refused() -> None:
    data = body(("file", "a.mp4", b"0123456789" * 100), close=False)[:-20]
    with pytest.raises(ApiError) as err:
        await read_everything(data, 64)
    assert err.value.code == "invalid_input"


async def test_a_form_field_larger_than_its_limit_is_refused() -> None:
    reader = MultipartReader(chunks_of(body(("config", None, b"x" * 5000)), 100), BOUNDARY)
    await reader.next_part()
    with pytest.raises(ApiError) as err:
        await reader.read_all(1000)
    assert err.value.status == 413


@pytest.mark.parametrize("content_type", [None, "application/json", "multipart/form-data", "text/plain; boundary=x"])
def test_only_multipart_form_data_with_a_boundary_is_accepted(content_type: str | None) -> None:
    with pytest.raises(ApiError):
        boundary_of(content_type)


def test_the_boundary_is_read_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"
