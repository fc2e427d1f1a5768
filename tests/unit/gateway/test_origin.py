"""Cross-site refusal of unsafe requests."""

from __future__ import annotations

import pytest

from mediacraft.gateway.origin import cross_site_reason

HOST = "media.example:8000"


@pytest.mark.parametrize(
    ("method", "origin", "site", "refused"),
    [
        ("POST", None, None, False),  # scripts and the CLI send neither
        ("POST", "http://media.example:8000", "same-origin", False),
        ("POST", "https://media.example:8000/", None, False),
        ("POST", None, "cross-site", True),
        ("POST", "http://evil.example", None, True),
        ("DELETE", "http://media.example:8000.evil.example", None, True),
        ("POST", "null", None, True),
        ("POST", "javascript:alert(1)", None, True),
        ("GET", "http://evil.example", "cross-site", False),  # safe methods are not refused
        ("POST", "http://media.example:8000", "same-site", False),
    ],
)
def test_unsafe_cross_site_requests_are_refused(
    method: str, origin: str | None, site: str | None, refused: bool
) -> None:
    reason = cross_site_reason(method, origin=origin, sec_fetch_site=site, host=HOST)
    assert (reason is not None) is refused


def test_configured_origins_are_allowed() -> None:
    assert (
        cross_site_reason(
            "POST", origin="https://app.example", sec_fetch_site=None, host=HOST, allowed=("https://app.example",)
        )
        is None
    )
