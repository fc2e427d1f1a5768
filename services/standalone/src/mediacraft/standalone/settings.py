"""Settings of the single-process mode: where data lives, the HTTP port, workers per pool."""

from __future__ import annotations

from pathlib import Path

from mediacraft.shared.settings import BaseServiceSettings


class StandaloneSettings(BaseServiceSettings):
    """Embedded adapters under `data_dir`; every service's own settings still apply on top."""

    service_name: str = "standalone"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # five jobs at once by default, the product's global quota; each pool's quota is its workers
    watermark_workers: int = 2
    merge_workers: int = 2
    generate_workers: int = 1
    drain_seconds: float = 10.0  # on Ctrl-C, how long running jobs may take to finish

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    def adapter_urls(self) -> dict[str, str]:
        """The embedded adapters' URLs: in-process bus, SQLite file, local object directory."""
        return {
            "bus_url": "memory://",
            "store_url": f"sqlite:///{self.data_path / 'mediacraft.db'}",
            "object_store_url": f"file://{self.data_path / 'objects'}",
        }
