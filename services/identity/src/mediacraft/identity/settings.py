"""Identity settings (environment prefix MEDIACRAFT_)."""

from __future__ import annotations

from pydantic import Field, model_validator

from mediacraft.shared.published_secrets import DEV_IDENTITY_TOKEN
from mediacraft.shared.settings import BaseServiceSettings


class IdentitySettings(BaseServiceSettings):
    """The identity service's knobs; the API token is the one the gateway sends."""

    service_name: str = "identity"
    http_host: str = "127.0.0.1"
    http_port: int = 8001
    identity_api_token: str = DEV_IDENTITY_TOKEN  # published default: refused off loopback and in production
    seen_write_interval_seconds: float = 60.0  # at most one last-seen write per user per interval
    seen_throttle_users: int = 100_000  # users remembered by the throttle (least recent forgotten)
    inbox_prefetch: int = 50
    publish_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        description="longest wait for the broker's confirm of user.created while a new identity is"
        " answered (keep it under the gateway's identity timeout); the event is optional",
    )
    metrics_host: str = Field(default="0.0.0.0", description="Interface of the identity metrics endpoint.")
    metrics_port: int = Field(
        default=9101, ge=0, le=65_535, description="Port of the identity Prometheus metrics endpoint; 0 turns it off."
    )

    @model_validator(mode="after")
    def _check(self) -> IdentitySettings:
        self.require_secret("identity_api_token", self.identity_api_token, http_host=self.http_host)
        return self
