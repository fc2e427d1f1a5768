"""Sending a stored result over HTTP: single byte ranges, safe Content-Disposition, or a presigned redirect."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response, StreamingResponse

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.disposition import content_disposition
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.results import StoredResult

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range a Range header asks for; None to send everything; 416 when unsatisfiable.

    Multiple ranges are answered with the whole file (allowed by RFC 9110), which every download
    client handles; multipart/byteranges buys nothing for media.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        if header.strip().startswith("bytes=") and "," in header:
            return None
        raise _unsatisfiable(size)
    first, last = match.groups()
    if not first and not last:
        raise _unsatisfiable(size)
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - n), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return ByteRange(start, end)


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        "range_not_satisfiable", "The requested range is outside the file", headers={"Content-Range": f"bytes */{size}"}
    )


async def download(
    ctx: GatewayContext, result: StoredResult, range_header: str | None, *, head: bool = False
) -> Response:
    """A stored result as a (possibly partial) stream, or a redirect."""
    key = result.key
    disposition = content_disposition(result.filename)
    if ctx.settings.download_redirect and not head:
        expires = ctx.settings.presign_seconds
        url = await ctx.objects.presigned_get(key, expires_seconds=expires, filename=result.filename)
        if url:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition,
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if result.etag:
        headers["ETag"] = f'"{result.etag.strip(chr(34))}"'
    wanted = parse_range(range_header, result.size)
    media_type = result.media_type
    if wanted is None:
        headers["Content-Length"] = str(result.size)
        if head or result.size == 0:
            return Response(b"", headers=headers, media_type=media_type)
        return StreamingResponse(ctx.objects.open_read(key), headers=headers, media_type=media_type)
    headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{result.size}"
    headers["Content-Length"] = str(wanted.length)
    if head:
        return Response(b"", status_code=206, headers=headers, media_type=media_type)
    return StreamingResponse(
        ctx.objects.open_read(key, start=wanted.start, end=wanted.end),
        status_code=206,
        headers=headers,
        media_type=media_type,
    )
