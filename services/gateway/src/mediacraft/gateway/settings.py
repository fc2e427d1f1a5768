"""Gateway settings (environment prefix MEDIACRAFT_); built once in main and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from mediacraft.shared.media import MediaLimits
from mediacraft.shared.settings import BaseServiceSettings

DEV_COOKIE_KEY = "dev-cookie-key-not-for-production"
DEV_IDENTITY_TOKEN = "dev-identity-token-not-for-production"


def split_list(value: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple of non-empty, stripped items."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


class GatewaySettings(BaseServiceSettings):
    """Every knob of the HTTP API; list-valued settings are comma-separated strings."""

    # MEDIACRAFT_MEDIA__MAX_DURATION=900 sets one field of the nested media limits.
    model_config = SettingsConfigDict(env_prefix="MEDIACRAFT_", env_nested_delimiter="__", extra="ignore")

    service_name: str = "gateway"
    media: MediaLimits = MediaLimits()
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For uvicorn believes
    shutdown_grace_seconds: float = 10.0  # open requests (uploads, SSE streams) get this long at shutdown

    # Identity service: its base URL when it runs as its own process; the token both sides share.
    identity_url: str = "http://127.0.0.1:8001"
    identity_api_token: str = DEV_IDENTITY_TOKEN
    identity_timeout_seconds: float = 5.0

    # Cookie identity. Keys newest first: sign with the first, accept any listed (rotation).
    cookie_keys: str = DEV_COOKIE_KEY
    cookie_name: str = "mc_uid"
    cookie_secure: bool = False  # served over TLS: adds Secure and the __Host- prefix
    cookie_max_age_days: int = 30
    cookie_renew_after_seconds: int = 3600  # re-issue (sliding expiry) at most this often
    seen_interval_seconds: float = 60.0  # user.seen events per user at most this often

    # Unsafe requests from these origins are accepted besides the gateway's own host.
    allowed_origins: str = ""

    # Rate limits (token buckets, per replica): per identity, per client IP, and new identities per IP.
    # They stop floods, not people: the storage quota and the open-draft cap bound what a visitor
    # holds, so one visitor may submit 100 tasks in a row and 50 visitors behind one address
    # (an office, a school) may arrive within a minute (README "Quotas and rates").
    rate_user_per_second: float = 20.0
    rate_user_burst: int = 500
    rate_ip_per_second: float = 100.0
    rate_ip_burst: int = 400
    rate_create_per_second: float = 2.0
    rate_create_burst: int = 200
    new_identities_per_ip_per_minute: float = 60.0
    new_identities_per_ip_burst: int = 60
    rate_limit_max_keys: int = 100_000

    # Uploads and tasks.
    max_upload_bytes: int = 2 * 1024**3
    user_storage_quota_bytes: int | None = Field(
        default=10 * 1024**3,
        ge=0,
        description="bytes one user may store (uploads, drafts included, and results); `none`: no quota."
        " Counted at upload from the user's stored uploads and cleanup's last measurement: 413"
        " storage_quota_exceeded, nothing kept",
    )
    max_open_drafts_per_user: int | None = Field(
        default=20,
        ge=1,
        description="drafts (created, not yet submitted) one user may hold at once; `none`: no cap."
        " One more answers 429 too_many_drafts and creates nothing",
    )

    @field_validator("user_storage_quota_bytes", "max_open_drafts_per_user", mode="before")
    @classmethod
    def _none_turns_off(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "off") else value

    max_form_field_bytes: int = 64 * 1024
    merge_max_inputs: int = 10  # shared with the merge worker (MEDIACRAFT_MERGE_MAX_INPUTS)
    duplicate_window_seconds: float = 5.0
    # Cap on waiting (queued + retrying) tasks per user, enforced here at submit and retry with the
    # shared rule (mediacraft.shared.admission); unset means no cap (the product's default).
    max_waiting_per_user: int | None = None  # waiting (queued + retrying) tasks per user; unset: no cap
    eta_seconds_per_media_second: float = 1.0  # first ETA estimate before a worker reports one

    # Downloads.
    download_redirect: bool = False  # answer with a presigned URL when the object store has one
    presign_seconds: int = 300

    # Live events.
    sse_heartbeat_seconds: float = 15.0
    sse_client_queue: int = 256
    sse_replay_limit: int = 1000
    sse_retry_ms: int = 3000

    # Local scratch: upload tee files and the preview cache of uploaded media.
    cache_dir: str | None = None  # default: <data_dir>/gateway-cache
    preview_cache_bytes: int = 4 * 1024**3
    preview_timeout_seconds: float = 10.0
    preview_concurrency: int = 2

    @model_validator(mode="after")
    def _check(self) -> GatewaySettings:
        if not self.cookie_key_list:
            raise ValueError("MEDIACRAFT_COOKIE_KEYS needs at least one key")
        if any(len(k) < 16 for k in self.cookie_key_list):
            raise ValueError("every cookie key needs at least 16 characters")
        if self.max_waiting_per_user is not None and self.max_waiting_per_user < 1:
            raise ValueError("MEDIACRAFT_MAX_WAITING_PER_USER must be at least 1 when set")
        if self.merge_max_inputs < 2:
            raise ValueError("MEDIACRAFT_MERGE_MAX_INPUTS must be at least 2")
        self.check_secrets()
        return self

    @property
    def cookie_key_list(self) -> tuple[str, ...]:
        return split_list(self.cookie_keys)

    @property
    def allowed_origin_list(self) -> tuple[str, ...]:
        return tuple(o.rstrip("/").lower() for o in split_list(self.allowed_origins))

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(self.data_dir) / "gateway-cache"

    def check_secrets(self) -> None:
        """Refuse to start outside development with the default cookie key or identity token."""
        for key in self.cookie_key_list:
            self.require_secret("cookie_keys", key, DEV_COOKIE_KEY)
        self.require_secret("identity_api_token", self.identity_api_token, DEV_IDENTITY_TOKEN)
