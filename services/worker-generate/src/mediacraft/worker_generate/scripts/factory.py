"""Build the script provider the settings name: `local` (default, offline) or `http`."""

from __future__ import annotations

from mediacraft.worker_generate.scripts.base import ScriptProvider
from mediacraft.worker_generate.settings import GenerateSettings


def make_script_provider(settings: GenerateSettings) -> ScriptProvider:
    """The provider of MEDIACRAFT_SCRIPT_PROVIDER, configured from the rest of the settings."""
    if settings.script_provider == "http":
        from mediacraft.worker_generate.scripts.http import ChatScriptProvider

        assert settings.script_http_endpoint is not None  # the settings refuse http without one
        key = settings.script_http_api_key.get_secret_value() if settings.script_http_api_key else None
        return ChatScriptProvider(
            settings.script_http_endpoint,
            model=settings.script_http_model,
            api_key=key,
            timeout=settings.script_http_timeout_seconds,
            connect_timeout=settings.script_http_connect_timeout_seconds,
        )
    from mediacraft.worker_generate.scripts.local import LocalScriptProvider

    return LocalScriptProvider(scene_seconds=settings.script_local_scene_seconds)
