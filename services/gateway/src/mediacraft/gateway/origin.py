"""Cross-site request refusal for unsafe methods (the CSRF guard beside SameSite=Lax cookies).

Browsers send `Sec-Fetch-Site` and `Origin` on cross-site requests; scripts and the CLI send
neither, and are allowed, since a request without the cookie of a victim's browser cannot act as
that victim.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_site_reason(
    method: str,
    *,
    origin: str | None,
    sec_fetch_site: str | None,
    host: str | None,
    allowed: tuple[str, ...] = (),
) -> str | None:
    """Why an unsafe request must be refused, or None when it may proceed."""
    if method.upper() in SAFE_METHODS:
        return None
    if sec_fetch_site is not None and sec_fetch_site.strip().lower() == "cross-site":
        return "cross-site request"
    if origin is None:
        return None
    origin = origin.strip().lower().rstrip("/")
    if origin in allowed:
        return None
    if origin == "null":  # sandboxed frames, file:// pages, some redirects
        return "opaque origin"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "malformed origin"
    if host is None or parts.netloc != host.strip().lower():
        return "foreign origin"
    return None
