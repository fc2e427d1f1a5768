"""How the gateway talks to identity: over HTTP to its own service, or in-process.

Services never import each other, so the in-process client wraps any object with the identity
service's methods (`IdentityBackend`), handed in by a composition root that may import both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field

from mediacraft.shared.errors import MediaCraftError, RetryableError


class UserInfo(BaseModel):
    """A user as identity describes it, with task statistics."""

    user_id: str
    created_at: datetime
    last_accessed: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)


class IdentityClient(Protocol):
    async def mint(self) -> str:
        """A new anonymous user; returns its id."""

    async def user_info(self, user_id: str) -> UserInfo:
        """The user's record and statistics (recreated if the record was lost)."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class IdentityBackend(Protocol):
    """The identity service's own interface, as the in-process client calls it."""

    async def mint(self) -> Any: ...

    async def info(self, user_id: str) -> dict[str, Any]: ...

    async def ping(self) -> bool: ...


class InProcessIdentityClient:
    """Calls an identity service object living in the same process."""

    def __init__(self, backend: IdentityBackend) -> None:
        self._backend = backend

    async def mint(self) -> str:
        user = await self._backend.mint()
        return str(getattr(user, "user_id", user))

    async def user_info(self, user_id: str) -> UserInfo:
        return UserInfo.model_validate(await self._backend.info(user_id))

    async def ping(self) -> bool:
        return await self._backend.ping()

    async def close(self) -> None:
        return None


class HttpIdentityClient:
    """Calls the identity service's internal HTTP API with the shared bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def mint(self) -> str:
        data = await self._call("POST", "/internal/users")
        return str(data["user_id"])

    async def user_info(self, user_id: str) -> UserInfo:
        return UserInfo.model_validate(await self._call("GET", f"/internal/users/{user_id}"))

    async def ping(self) -> bool:
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str) -> dict[str, Any]:
        try:
            resp = await self._http.request(method, path)
        except httpx.HTTPError as exc:
            raise RetryableError(f"identity service unreachable: {exc}", code="unavailable") from exc
        if resp.status_code >= 500:
            raise RetryableError(f"identity service answered {resp.status_code}", code="unavailable")
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("code") != resp.status_code:
            raise MediaCraftError(f"identity service answered {resp.status_code} without an envelope")
        if not doc["success"]:
            # a refusal is a fault of this gateway (its token, its request), never the caller's
            raise MediaCraftError(
                f"identity service refused {method} {path}: {doc.get('message')}", code=str(doc.get("error_code"))
            )
        data: dict[str, Any] = doc["data"]
        return data
