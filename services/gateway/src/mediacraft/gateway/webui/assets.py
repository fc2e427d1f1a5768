"""The web UI's static files, read once into memory and versioned by their content.

Assets live under /ui/<version>/, where the version is a digest of every file: a browser may keep
them for a year, and a new release changes the path instead of waiting for caches to expire.
Requests are answered from this in-memory table only, so no request path ever touches the disk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from mediacraft.shared import error_texts

STATIC_DIR = Path(__file__).parent / "static"
INDEX = "index.html"
VERSION_MARK = "%UI_VERSION%"
# i18n.js declares the error table empty on this line; the served file carries the shared table
ERROR_TEXTS_LINE = "const ERROR_TEXTS = {}; // %ERROR_TEXTS%"
TRANSLATIONS = "i18n.js"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
}


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, content type and a strong ETag."""

    body: bytes
    media_type: str
    etag: str


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@dataclass(frozen=True)
class AssetBundle:
    """index.html (with the version filled in) and every other file by its path under static/."""

    version: str
    index: Asset
    files: dict[str, Asset]

    @classmethod
    def load(cls, root: Path = STATIC_DIR) -> AssetBundle:
        """Read every servable file under `root`; the version digests names and contents."""
        raw: dict[str, bytes] = {}
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and path.suffix in MEDIA_TYPES and not any(p.startswith(".") for p in rel.split("/")):
                raw[rel] = path.read_bytes()
        if INDEX not in raw:
            raise FileNotFoundError(f"the web UI has no {INDEX} in {root}")
        if TRANSLATIONS in raw:
            raw[TRANSLATIONS] = with_error_texts(raw[TRANSLATIONS])
        digest = hashlib.sha256()
        for rel, body in raw.items():
            digest.update(rel.encode() + b"\0" + hashlib.sha256(body).digest())
        version = digest.hexdigest()[:12]
        index = _asset(raw.pop(INDEX).replace(VERSION_MARK.encode(), version.encode()), MEDIA_TYPES[".html"])
        files = {rel: _asset(body, MEDIA_TYPES[Path(rel).suffix]) for rel, body in raw.items()}
        return cls(version=version, index=index, files=files)


def with_error_texts(script: bytes) -> bytes:
    """i18n.js with the shared error table filled in (before the version digest, so a changed
    sentence changes the version too)."""
    line = ERROR_TEXTS_LINE.encode()
    if line not in script:
        raise ValueError(f"{TRANSLATIONS} lacks the line {ERROR_TEXTS_LINE!r} that receives the error table")
    filled = f"const ERROR_TEXTS = {error_texts.table_json()};".encode()
    return script.replace(line, filled, 1)
