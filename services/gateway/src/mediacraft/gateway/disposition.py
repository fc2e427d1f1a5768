"""A Content-Disposition header that is safe whatever the original file name holds.

RFC 6266: an ASCII `filename=` fallback for old clients, and `filename*=UTF-8''...` with the
full name percent-encoded, so neither quotes, semicolons, CR/LF nor non-ASCII can break out.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from mediacraft.gateway.filenames import display_name

_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")


def content_disposition(filename: str | None, *, default: str = "download", inline: bool = False) -> str:
    """The header value for sending a file that should be saved as `filename`."""
    name = display_name(filename or "", default=default)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = _ASCII_UNSAFE.sub("_", ascii_name).strip(" .") or default
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def result_filename(original: str | None, task_type: str, result_name: str | None) -> str:
    """The name a result is downloaded as: built from the upload's name and the result's extension."""
    ext = ""
    if result_name and "." in result_name:
        ext = "." + result_name.rsplit(".", 1)[1]
    base = display_name(original or "", default=task_type)
    stem = base.rsplit(".", 1)[0] if "." in base else base
    suffix = {"watermark_removal": "_clean", "video_merge": "_merged"}.get(task_type, "")
    return f"{stem}{suffix}{ext or '.bin'}"
