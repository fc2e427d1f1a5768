"""What every command gets: the server, the identity, the API clients and where output goes."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mediacraft.cli.api import Api, AsyncApi
from mediacraft.cli.errors import UsageError
from mediacraft.cli.identity import IdentityFile
from mediacraft.cli.progress import StatusLine
from mediacraft.cli.session import Session

DEFAULT_SERVER = "http://127.0.0.1:8000"


def normalize_server(url: str) -> str:
    """`host:port` or a URL, as `scheme://host:port[/prefix]` without a trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"Not an http(s) server URL: {url}")
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


@dataclass
class Context:
    server: str
    identity: IdentityFile
    session: Session
    api: Api
    json: bool
    line: StatusLine  # progress and chatter, on stderr

    @classmethod
    def build(cls, server: str, identity: IdentityFile, *, json: bool, quiet: bool) -> Context:
        session = Session(server, identity)
        return cls(server, identity, session, Api(server, session), json, StatusLine(enabled=not quiet))

    def async_api(self) -> AsyncApi:
        """A fresh async client on the same identity (for watch), which exists by then."""
        self.api.ensure_identity()
        return AsyncApi(self.server, self.session)

    def close(self) -> None:
        self.api.close()
