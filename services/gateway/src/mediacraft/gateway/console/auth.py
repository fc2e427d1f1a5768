"""Who is the operator: a bearer token, the console's session cookie, or a trusted proxy's header.

- `Authorization: Bearer <MEDIACRAFT_OPERATOR_TOKEN>`, compared in constant time (scripts, curl).
- The session cookie the console's login form gets for that token: `<expiry>.<HMAC-SHA256 of the
  expiry, keyed by the token>`, HttpOnly, SameSite=Strict, Path=/ops. Changing the token ends
  every session; no session store is needed.
- The header named by MEDIACRAFT_OPERATOR_USER_HEADER (e.g. `X-Forwarded-User`), set by an
  authenticating proxy (oauth2-proxy and the like, OIDC) and honoured only when that setting names
  it: the proxy must be the only way in and must drop the header from clients' requests.

Unsafe requests signed in by the cookie or the proxy's header (a browser's, with the proxy's own
cookie behind it) are refused when they come from another site (the same guard as the end-user
API's), so a page elsewhere cannot act with an operator's browser.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from starlette.requests import Request

from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.origin import cross_site_reason
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.shared.logging import get_logger

log = get_logger("mediacraft.gateway.console")

COOKIE_NAME = "mc_ops"
COOKIE_PATH = "/ops"
_SESSION_CONTEXT = b"mediacraft operator console session:"


@dataclass(frozen=True)
class Operator:
    """The authenticated operator: a name for the logs and how they proved it."""

    name: str
    via: str  # "token" | "session" | "header"


def _mac(token: str, expires: int) -> str:
    return hmac.new(token.encode(), _SESSION_CONTEXT + str(expires).encode(), hashlib.sha256).hexdigest()


def session_value(token: str, *, now: float, hours: float) -> str:
    """A session cookie value for `token`, valid `hours` from `now` (epoch seconds)."""
    expires = int(now + hours * 3600)
    return f"{expires}.{_mac(token, expires)}"


def session_valid(value: str | None, token: str, *, now: float) -> bool:
    """Whether a session cookie value was made for `token` and has not expired (constant-time check)."""
    if not value:
        return False
    expires_text, _, mac = value.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    return hmac.compare_digest(mac.encode(), _mac(token, expires).encode()) and now < expires


def token_matches(given: str, token: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return hmac.compare_digest(given.encode(), token.encode())


def bearer(request: Request) -> str | None:
    """The bearer token of the Authorization header, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate(request: Request, settings: GatewaySettings) -> Operator:
    """The operator behind this request, or 401 `unauthorized` (403 for a cross-site unsafe request)."""
    token = settings.operator_token
    given = bearer(request)
    if given is not None:
        if token is not None and token_matches(given, token):
            return Operator("token", "token")
        refused(request, "bearer")
        raise ApiError("unauthorized", "The operator token is not valid")
    if token is not None and session_valid(request.cookies.get(COOKIE_NAME), token, now=time.time()):
        check_same_site(request)
        return Operator("token", "session")
    header = settings.operator_user_header
    if header is not None:
        name = request.headers.get(header, "").strip()
        if name:
            check_same_site(request)  # the proxy signs a browser in with a cookie of its own
            return Operator(name[:200], "header")
    raise ApiError("unauthorized", "Operator sign-in required")


def refused(request: Request, via: str) -> None:
    """Log a wrong operator token (never the token itself), for an operator watching for guesses."""
    client = request.client.host if request.client else "unknown"
    log.warning("console.token_refused", via=via, client=client)


def check_same_site(request: Request) -> None:
    """Refuse an unsafe request that another site's page sent with the operator's cookie."""
    reason = cross_site_reason(
        request.method,
        origin=request.headers.get("origin"),
        sec_fetch_site=request.headers.get("sec-fetch-site"),
        host=request.headers.get("host"),
    )
    if reason is not None:
        raise ApiError("forbidden_origin", f"Refused: {reason}")
