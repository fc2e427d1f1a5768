"""Client file names are display names only: cleaned of paths, controls and bidi tricks."""

from __future__ import annotations

import unicodedata

MAX_NAME = 200

# Directional overrides and isolates let "gpj.exe" display as "exe.jpg"; drop all of them.
_BIDI = {
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
}


def display_name(raw: str, *, default: str = "file") -> str:
    """A name safe to show and to put in a header: no directories, controls or bidi marks.

    Keeps the extension when the name must be shortened, so that "…long….mp4" stays an mp4.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c for c in name if c not in _BIDI and unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    )
    name = " ".join(name.split()).strip(" .")
    if not name:
        return default
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME].rstrip(" .")
    return name or default
