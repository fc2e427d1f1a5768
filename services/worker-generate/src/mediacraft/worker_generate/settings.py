"""Settings of the generation worker (environment prefix MEDIACRAFT_), built once in main.

MEDIACRAFT_GENERATE_PROVIDER=local|http          which provider renders the media
MEDIACRAFT_GENERATE_HTTP_ENDPOINT=https://...     the generation service (provider http)
MEDIACRAFT_GENERATE_HTTP_API_KEY=...              sent as `Authorization: Bearer <key>`
MEDIACRAFT_GENERATE_HTTP_TIMEOUT_SECONDS=120      one request, connect to last byte
MEDIACRAFT_SCRIPT_PROVIDER=local|http            who writes video scripts (video_script tasks)
MEDIACRAFT_SCRIPT_HTTP_ENDPOINT=https://.../v1/chat/completions   an OpenAI-compatible endpoint
MEDIACRAFT_SCRIPT_HTTP_API_KEY=...                sent as `Authorization: Bearer <key>`
MEDIACRAFT_SCRIPT_HTTP_MODEL=gpt-4o-mini          the chat model asked
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from mediacraft.shared.worker.settings import WorkerSettings

MIB = 1024**2


class GenerateSettings(WorkerSettings):
    """Provider choice, the HTTP backend's address and limits, and the local renderer's encoder."""

    service_name: str = "worker-generate"

    generate_provider: Literal["local", "http"] = "local"

    generate_http_endpoint: str | None = None
    generate_http_api_key: SecretStr | None = None
    generate_http_timeout_seconds: float = Field(120.0, gt=0)
    generate_http_connect_timeout_seconds: float = Field(10.0, gt=0)
    generate_http_max_response_bytes: int = Field(512 * MIB, gt=0)

    script_provider: Literal["local", "http"] = "local"  # who writes video scripts: local (offline) or http
    script_http_endpoint: str | None = None  # an OpenAI-compatible chat-completions URL (provider http)
    script_http_api_key: SecretStr | None = None  # sent as `Authorization: Bearer <key>`
    script_http_model: str = Field("gpt-4o-mini", min_length=1)  # the chat model asked for the script
    script_http_timeout_seconds: float = Field(120.0, gt=0)  # one request, connect to last byte (then retried)
    script_http_connect_timeout_seconds: float = Field(10.0, gt=0)  # connecting to the script service
    script_local_scene_seconds: float = Field(0.5, ge=0, le=10)  # local writer's pause per scene (0: at once)

    generate_local_preset: str = "veryfast"
    generate_local_crf: int = Field(23, ge=0, le=51)

    @field_validator("generate_http_endpoint", "script_http_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the endpoint must be an http:// or https:// URL")
        return value.strip()

    @model_validator(mode="after")
    def _http_needs_endpoint(self) -> GenerateSettings:
        if self.generate_provider == "http" and self.generate_http_endpoint is None:
            raise ValueError("MEDIACRAFT_GENERATE_HTTP_ENDPOINT is required with MEDIACRAFT_GENERATE_PROVIDER=http")
        if self.script_provider == "http" and self.script_http_endpoint is None:
            raise ValueError("MEDIACRAFT_SCRIPT_HTTP_ENDPOINT is required with MEDIACRAFT_SCRIPT_PROVIDER=http")
        return self
