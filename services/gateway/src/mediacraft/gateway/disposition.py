"""A Content-Disposition header that is safe whatever the original file name holds.

RFC 6266: an ASCII `filename=` fallback for old clients, and `filename*=UTF-8''...` with the
full name percent-encoded, so neither quotes, semicolons, CR/LF nor non-ASCII can break out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from mediacraft.gateway.filenames import display_name
from mediacraft.shared.tasks import Task

_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")


def content_disposition(filename: str | None, *, default: str = "download", inline: bool = False) -> str:
    """The header value for sending a file that should be saved as `filename`."""
    name = display_name(filename or "", default=default)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = _ASCII_UNSAFE.sub("_", ascii_name).strip(" .") or default
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def result_filename(
    original: str | None,
    task_type: str,
    result_name: str | None,
    *,
    config: Mapping[str, Any] | None = None,
    task_id: str = "",
) -> str:
    """The name a result is downloaded as, with the result's extension: from the upload's name for
    a watermark or merge task, from the prompt and size for a generation (`generated_filename`)."""
    ext = ""
    if result_name and "." in result_name:
        ext = "." + result_name.rsplit(".", 1)[1]
    if task_type in GENERATION_KINDS:
        return generated_filename(config or {}, task_type, task_id, ext or ".bin")
    base = display_name(original or "", default=task_type)
    stem = base.rsplit(".", 1)[0] if "." in base else base
    suffix = {"watermark_removal": "_clean", "video_merge": "_merged"}.get(task_type, "")
    return f"{stem}{suffix}{ext or '.bin'}"


GENERATION_KINDS = {"image_generation": "image", "video_generation": "video"}
SLUG_WORDS = 6
SLUG_CHARS = 40
SHORT_ID = 8  # the task's short display id: different tasks never share a download name


def prompt_slug(prompt: str, *, max_words: int = SLUG_WORDS, max_chars: int = SLUG_CHARS) -> str:
    """The first words of a prompt as a file-name stem: lower case, words of any script joined by
    hyphens, punctuation dropped ("Waves at dusk!" -> "waves-at-dusk"); "" when it has no word."""
    words = [w for w in re.split(r"[\W_]+", unicodedata.normalize("NFKC", prompt).casefold()) if w]
    slug = ""
    for word in words[:max_words]:
        longer = f"{slug}-{word}" if slug else word
        if len(longer) > max_chars:
            break
        slug = longer
    if not slug and words:  # one long word (a prompt in a script without spaces)
        slug = words[0][:max_chars]
    return slug


def generated_filename(config: Mapping[str, Any], task_type: str, task_id: str, ext: str) -> str:
    """`<prompt words>-<W>x<H>-<short id><ext>`, e.g. waves-at-dusk-1280x720-3f2a9c1b.png."""
    prompt = config.get("prompt")
    parts = [prompt_slug(prompt) if isinstance(prompt, str) else ""]
    parts[0] = parts[0] or GENERATION_KINDS.get(task_type, "generated")
    width, height = config.get("width"), config.get("height")
    if isinstance(width, int) and isinstance(height, int):
        parts.append(f"{width}x{height}")
    short = re.sub(r"[^0-9A-Za-z]", "", task_id)[:SHORT_ID]
    if short:
        parts.append(short)
    return display_name("-".join(parts) + ext, default=f"{task_type}{ext}")


def download_name(task: Task) -> str:
    """The name the task's result downloads as."""
    result_name = task.result.filename if task.result else None
    return result_filename(
        task.original_filename, task.task_type.value, result_name, config=task.config, task_id=task.task_id
    )
