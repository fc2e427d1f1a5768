"""Build the provider the settings name: `local` (default, offline) or `http`."""

from __future__ import annotations

from mediacraft.worker_generate.providers.base import GenerationProvider
from mediacraft.worker_generate.settings import GenerateSettings


def make_provider(settings: GenerateSettings) -> GenerationProvider:
    """The provider of MEDIACRAFT_GENERATE_PROVIDER, configured from the rest of the settings."""
    if settings.generate_provider == "http":
        from mediacraft.worker_generate.providers.http import HttpProvider

        assert settings.generate_http_endpoint is not None  # the settings refuse http without one
        key = settings.generate_http_api_key.get_secret_value() if settings.generate_http_api_key else None
        return HttpProvider(
            settings.generate_http_endpoint,
            api_key=key,
            timeout=settings.generate_http_timeout_seconds,
            connect_timeout=settings.generate_http_connect_timeout_seconds,
            max_response_bytes=settings.generate_http_max_response_bytes,
        )
    from mediacraft.worker_generate.providers.local import LocalProvider

    return LocalProvider(preset=settings.generate_local_preset, crf=settings.generate_local_crf)
