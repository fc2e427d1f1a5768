"""Settings base: every service's Settings subclasses this (environment prefix MEDIACRAFT_)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mediacraft.shared.published_secrets import check_secret

DEV_ENVIRONMENTS = frozenset({"development", "test"})


class BaseServiceSettings(BaseSettings):
    """Adapter URLs and the knobs every service shares; adapters are chosen by URL scheme."""

    model_config = SettingsConfigDict(env_prefix="MEDIACRAFT_", env_file=None, extra="ignore")

    environment: str = "development"  # outside development/test, published secrets refuse to start
    service_name: str = "mediacraft"
    log_level: str = "INFO"
    log_json: bool | None = None  # unset: JSON when stderr is not a terminal

    data_dir: str = "./var"  # where embedded adapters and caches keep their files
    bus_url: str = "memory://"  # or amqp://user:pass@host:5672/vhost (RabbitMQ)
    store_url: str = "sqlite:///./var/mediacraft.db"  # or mongodb://host:27017/mediacraft
    object_store_url: str = "file:///./var/objects"  # or s3://KEY:SECRET@host:9000/bucket?secure=false

    # NoDecode: the env value is a plain comma list ("60000,300000"), not JSON
    retry_delays_ms: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(60_000, 300_000, 900_000), description="one delay queue per step, comma list"
    )
    delivery_limit: int = Field(
        default=5,
        ge=1,
        description="deliveries of a message (the first one included) before it is parked in dead.letters",
    )

    @field_validator("retry_delays_ms", mode="before")
    @classmethod
    def _parse_delays(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip().strip("[]()")
            return tuple(int(x) for x in text.replace(" ", "").split(",") if x)
        if isinstance(v, int):
            return (v,)
        return v

    @property
    def is_development(self) -> bool:
        return self.environment in DEV_ENVIRONMENTS

    def require_secret(self, name: str, *values: str, http_host: str | None = None) -> None:
        """Refuse a secret setting that holds a value the repository publishes, outside development
        or while listening beyond loopback on `http_host` (mediacraft.shared.published_secrets)."""
        check_secret(f"MEDIACRAFT_{name.upper()}", values, development=self.is_development, http_host=http_host)
