"""The cookie session: the identity file's cookies on every request, new ones saved as they arrive.

Cookies are handled here rather than by httpx's jar: the jar would also send them wherever a
redirect leads (a presigned storage URL must never see the identity), and its domain rules differ
between `localhost` and IP addresses, which would make the saved identity depend on how the
server was spelled.
"""

from __future__ import annotations

import httpx

from mediacraft.cli.identity import IdentityFile


class Session:
    """The identity cookies of one server for one invocation."""

    def __init__(self, server: str, identity: IdentityFile) -> None:
        self.server = server
        self.identity = identity
        self.cookies = identity.load(server)

    @property
    def has_identity(self) -> bool:
        return bool(self.cookies)

    def reload(self) -> None:
        """Re-read the file (another process may have saved an identity meanwhile)."""
        self.cookies = self.identity.load(self.server)

    def apply(self, request: httpx.Request) -> None:
        """Send the current cookies with `request` (only requests to our own server get here)."""
        if self.cookies:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def absorb(self, response: httpx.Response) -> None:
        """Take Set-Cookie headers into the session and save them when anything changed."""
        changed = False
        for header in response.headers.get_list("set-cookie"):
            parsed = parse_set_cookie(header)
            if parsed is None:
                continue
            name, value, expired = parsed
            if expired:
                changed |= self.cookies.pop(name, None) is not None
            elif self.cookies.get(name) != value:
                self.cookies[name] = value
                changed = True
        if changed:
            self.identity.save(self.server, self.cookies)

    async def aapply(self, request: httpx.Request) -> None:
        self.apply(request)

    async def aabsorb(self, response: httpx.Response) -> None:
        self.absorb(response)


def parse_set_cookie(header: str) -> tuple[str, str, bool] | None:
    """(name, value, expired) of one Set-Cookie header; expired when Max-Age is zero or less."""
    first, *attributes = header.split(";")
    name, sep, value = first.partition("=")
    name, value = name.strip(), value.strip().strip('"')
    if not sep or not name:
        return None
    expired = False
    for attribute in attributes:
        key, _, arg = attribute.strip().partition("=")
        if key.lower() == "max-age":
            try:
                expired = int(arg.strip()) <= 0
            except ValueError:
                pass
    return name, value, expired
