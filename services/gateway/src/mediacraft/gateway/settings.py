"""Gateway settings (environment prefix MEDIACRAFT_); built once in main and passed down."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from mediacraft.shared.media import MediaLimits
from mediacraft.shared.published_secrets import DEV_COOKIE_KEY, DEV_IDENTITY_TOKEN
from mediacraft.shared.settings import BaseServiceSettings


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
    identity_api_token: str = DEV_IDENTITY_TOKEN  # published default: refused off loopback and in production
    identity_timeout_seconds: float = 5.0
    publish_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        description="longest wait for the broker's confirm of a publish made while answering a request"
        " (the bus's own 30 s rides out a broker restart, which no caller should wait for);"
        " a nudge that fails is repaired from the store (reconcile)",
    )

    # Cookie identity. Keys newest first: sign with the first, accept any listed (rotation).
    cookie_keys: str = DEV_COOKIE_KEY  # published default: refused off loopback and in production
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

    @field_validator("operator_token", "operator_user_header", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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

    # Operator endpoints, off the public port (#16): Prometheus metrics on a port of their own,
    # the API docs page and its schema, and the Host names the gateway answers.
    metrics_host: str = Field(
        default="0.0.0.0", description="Interface of the metrics endpoint (127.0.0.1: this host only)."
    )
    metrics_port: int = Field(
        default=9100,
        ge=0,
        le=65_535,
        description="Port of the Prometheus metrics endpoint (identity: 9101 by default); 0 turns it off.",
    )
    docs_enabled: bool | None = Field(
        default=None,
        description="Serve the API docs page at /docs (Swagger UI from the package); "
        "unset: on in development and test only.",
    )
    openapi_enabled: bool = Field(default=True, description="Serve the API schema at /openapi.json.")
    allowed_hosts: str = Field(
        default="",
        description="Host headers answered (comma list, e.g. `media.example.com,localhost`); others get 400 "
        "`invalid_host`. Empty: any host.",
    )

    # The operator console at /ops/ (README "Operator console"): off while neither is set.
    operator_token: str | None = Field(
        default=None,
        description="Bearer token of the operator console at /ops/ (at least 24 characters; the login form"
        " turns it into a session cookie). Unset, and no operator header either: the console answers 404",
    )
    operator_user_header: str | None = Field(
        default=None,
        description="Request header, set by an authenticating proxy in front of the gateway, that names the"
        " operator (e.g. `X-Forwarded-User`); honoured only when set here. The proxy must strip it from"
        " clients' requests",
    )
    operator_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long an operator console login lasts."
    )

    # Request bodies and slow or long-lived connections (every route; services/gateway/README.md, "Limits").
    max_json_body_bytes: int = Field(
        64 * 1024,
        description="largest body of any request but an upload's multipart body (JSON, forms); 413 past it",
    )
    max_form_fields: int = Field(20, description="most non-file fields of a multipart body; 413 past it")
    max_form_bytes: int = Field(
        256 * 1024, description="most bytes of all non-file fields of a multipart body together; 413 past it"
    )
    body_idle_timeout_seconds: float = Field(
        30.0, description="a body that sends no byte for this long is cut with 408 (0: never)"
    )
    body_min_rate_bytes_per_second: float = Field(
        1024.0, description="a body slower than this on average, after the grace period, is cut with 408 (0: never)"
    )
    body_rate_grace_seconds: float = Field(10.0, description="waiting time before the minimum rate applies")
    sse_max_streams_per_user: int = Field(
        8, description="live event streams one identity may hold; a new one closes the oldest"
    )

    @model_validator(mode="after")
    def _check(self) -> GatewaySettings:
        if not self.cookie_key_list:
            raise ValueError("MEDIACRAFT_COOKIE_KEYS needs at least one key")
        if any(len(k) < 16 for k in self.cookie_key_list):
            raise ValueError("every cookie key needs at least 16 characters")
        if self.max_waiting_per_user is not None and self.max_waiting_per_user < 1:
            raise ValueError("MEDIACRAFT_MAX_WAITING_PER_USER must be at least 1 when set")
        if self.sse_max_streams_per_user < 1:
            raise ValueError("MEDIACRAFT_SSE_MAX_STREAMS_PER_USER must be at least 1")
        if self.merge_max_inputs < 2:
            raise ValueError("MEDIACRAFT_MERGE_MAX_INPUTS must be at least 2")
        if self.operator_token is not None and len(self.operator_token) < 24:
            raise ValueError("MEDIACRAFT_OPERATOR_TOKEN needs at least 24 characters")
        if self.operator_user_header is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", self.operator_user_header):
            raise ValueError("MEDIACRAFT_OPERATOR_USER_HEADER must be a header name (letters, digits, '-')")
        self.check_secrets()
        return self

    @property
    def cookie_key_list(self) -> tuple[str, ...]:
        return split_list(self.cookie_keys)

    @property
    def allowed_origin_list(self) -> tuple[str, ...]:
        return tuple(o.rstrip("/").lower() for o in split_list(self.allowed_origins))

    @property
    def allowed_host_list(self) -> tuple[str, ...]:
        return tuple(h.lower() for h in split_list(self.allowed_hosts))

    @property
    def docs_on(self) -> bool:
        """The docs page is served: as set, else everywhere but production (it needs the schema)."""
        wanted = self.docs_enabled if self.docs_enabled is not None else self.is_development
        return wanted and self.openapi_enabled

    @property
    def console_on(self) -> bool:
        """The operator console is served: a token or a trusted operator header is configured."""
        return bool(self.operator_token or self.operator_user_header)

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path(self.data_dir) / "gateway-cache"

    def check_secrets(self) -> None:
        """Refuse a published cookie key (any of the list) or identity token outside development,
        or in development while listening beyond loopback."""
        self.require_secret("cookie_keys", *self.cookie_key_list, http_host=self.http_host)
        self.require_secret("identity_api_token", self.identity_api_token, http_host=self.http_host)
        if self.operator_token is not None:
            self.require_secret("operator_token", self.operator_token, http_host=self.http_host)
