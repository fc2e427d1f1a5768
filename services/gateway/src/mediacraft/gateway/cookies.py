"""Signed identity cookies: HMAC over user id and issue time, rotating keys, server-side expiry.

The value is `<user_id>.<issued_at>.<signature>`: a 32-hex user id, the issue time in whole
seconds since the epoch (base 36), and a URL-safe HMAC-SHA256 over both, made with the newest key
and checked against every listed key, so that keys can rotate without logging anybody out. Expiry
is checked here from the signed issue time, never trusted to the browser's Max-Age.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_USER_ID = re.compile(r"^[0-9a-f]{32}$")
_VALUE = re.compile(r"^([0-9a-f]{32})\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{32})$")
# A cookie issued a little in the future is accepted: replicas' clocks drift apart.
_CLOCK_SKEW = timedelta(minutes=5)
# Values whose signature was checked, remembered by value so that a browser's next requests skip
# the HMACs; bounded, least recently used first out.
VERIFIED_CACHE_SIZE = 4096


def is_user_id(value: str) -> bool:
    """True for the shape of id that identity mints (32 lowercase hex digits)."""
    return bool(_USER_ID.match(value))


@dataclass(frozen=True)
class CookieIdentity:
    """A verified cookie: whose it is and when it was issued."""

    user_id: str
    issued_at: datetime


class CookieSigner:
    """Signs and verifies identity cookie values with a newest-first list of keys."""

    def __init__(
        self, keys: Sequence[str], *, max_age: timedelta = timedelta(days=30), cache_size: int = VERIFIED_CACHE_SIZE
    ) -> None:
        if not keys:
            raise ValueError("at least one cookie key is required")
        self._keys = [k.encode() for k in keys]
        self.max_age = max_age
        # Signatures checked against these keys: the cache lives and dies with the key list, so a
        # rotation (a new signer) starts empty and a dropped key's cookies are checked again.
        self._verified: OrderedDict[str, CookieIdentity] = OrderedDict()
        self._cache_size = cache_size

    def sign(self, user_id: str, issued_at: datetime) -> str:
        """The cookie value for `user_id` issued at `issued_at`, signed with the newest key."""
        if not is_user_id(user_id):
            raise ValueError("not a user id")
        stamp = _base36(int(issued_at.timestamp()))
        return f"{user_id}.{stamp}.{_mac(self._keys[0], user_id, stamp)}"

    def verify(self, value: str | None, now: datetime) -> CookieIdentity | None:
        """The identity in a valid, unexpired value; None for anything else, whatever it holds."""
        if not value or len(value) > 128:
            return None
        identity = self._verified.get(value)
        if identity is not None:
            self._verified.move_to_end(value)
        else:
            identity = self._check_signature(value)
            if identity is None:
                return None  # never cached: a stream of forged values cannot push real ones out
            self._verified[value] = identity
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        if identity.issued_at > now + _CLOCK_SKEW or now - identity.issued_at > self.max_age:
            return None  # expiry is checked on every request, cached or not
        return identity

    def _check_signature(self, value: str) -> CookieIdentity | None:
        match = _VALUE.match(value)
        if match is None:
            return None
        user_id, stamp, mac = match.groups()
        if not any(hmac.compare_digest(mac, _mac(key, user_id, stamp)) for key in self._keys):
            return None
        return CookieIdentity(user_id, datetime.fromtimestamp(int(stamp, 36), UTC))


@dataclass(frozen=True)
class CookiePolicy:
    """Name and attributes of the identity cookie; TLS adds Secure and the __Host- prefix."""

    base_name: str = "mc_uid"
    secure: bool = False
    max_age: timedelta = timedelta(days=30)

    @property
    def name(self) -> str:
        # __Host- makes the browser refuse the cookie unless Secure, Path=/ and no Domain.
        return f"__Host-{self.base_name}" if self.secure else self.base_name

    def header(self, value: str) -> str:
        """The Set-Cookie header value for `value`."""
        parts = [
            f"{self.name}={value}",
            "Path=/",
            f"Max-Age={int(self.max_age.total_seconds())}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def read_cookie(cookie_header: str | None, name: str) -> str | None:
    """The first value of cookie `name` in a Cookie header, without trusting its shape."""
    if not cookie_header:
        return None
    for item in cookie_header.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


def _mac(key: bytes, user_id: str, stamp: str) -> str:
    digest = hmac.new(key, f"v1.{user_id}.{stamp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
