"""Gateway settings: secrets refuse production defaults, lists and nested limits from the environment."""

from __future__ import annotations

import pytest

from mediacraft.gateway.settings import GatewaySettings
from mediacraft.shared.published_secrets import DEV_COOKIE_KEY

KEY = "production-cookie-key-0123456789"


def test_development_runs_with_the_default_secrets() -> None:
    assert GatewaySettings(environment="development").cookie_key_list == (DEV_COOKIE_KEY,)


def test_production_refuses_the_default_cookie_key() -> None:
    with pytest.raises(RuntimeError, match="COOKIE_KEYS"):
        GatewaySettings(environment="production", identity_api_token="a-real-token-of-some-length")


def test_production_refuses_the_default_identity_token() -> None:
    with pytest.raises(RuntimeError, match="IDENTITY_API_TOKEN"):
        GatewaySettings(environment="production", cookie_keys=KEY)


def test_production_starts_with_real_secrets() -> None:
    s = GatewaySettings(environment="production", cookie_keys=f"{KEY},old-{KEY}", identity_api_token="t" * 32)
    assert s.cookie_key_list == (KEY, f"old-{KEY}")


def test_short_cookie_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        GatewaySettings(cookie_keys="short")


def test_environment_variables_configure_lists_and_nested_media_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_RETRY_DELAYS_MS", "1000,2000")
    monkeypatch.setenv("MEDIACRAFT_MEDIA__MAX_DURATION", "90")
    monkeypatch.setenv("MEDIACRAFT_MAX_WAITING_PER_USER", "7")
    monkeypatch.setenv("MEDIACRAFT_ALLOWED_ORIGINS", "https://A.example/, https://b.example")
    s = GatewaySettings()
    assert s.retry_delays_ms == (1000, 2000)
    assert s.media.max_duration == 90
    assert s.max_waiting_per_user == 7
    assert s.allowed_origin_list == ("https://a.example", "https://b.example")


def test_a_waiting_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        GatewaySettings(max_waiting_per_user=0)
