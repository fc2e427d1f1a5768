"""The provider is chosen by settings; the HTTP one needs an address."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mediacraft.worker_generate.providers.factory import make_provider
from mediacraft.worker_generate.providers.http import HttpProvider
from mediacraft.worker_generate.providers.local import LocalProvider
from mediacraft.worker_generate.settings import GenerateSettings


def test_local_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIACRAFT_GENERATE_PROVIDER", raising=False)
    provider = make_provider(GenerateSettings())
    assert isinstance(provider, LocalProvider) and provider.name == "local"


def test_http_is_built_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_GENERATE_PROVIDER", "http")
    monkeypatch.setenv("MEDIACRAFT_GENERATE_HTTP_ENDPOINT", "https://gen.example.test/v1/generate")
    monkeypatch.setenv("MEDIACRAFT_GENERATE_HTTP_API_KEY", "k-123")
    monkeypatch.setenv("MEDIACRAFT_GENERATE_HTTP_TIMEOUT_SECONDS", "45")
    settings = GenerateSettings()
    assert "k-123" not in repr(settings)  # the key stays out of logs
    provider = make_provider(settings)
    try:
        assert isinstance(provider, HttpProvider)
        assert (provider.endpoint, provider.timeout) == ("https://gen.example.test/v1/generate", 45.0)
    finally:
        provider.close()


def test_http_without_an_endpoint_or_with_a_bad_one_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_GENERATE_PROVIDER", "http")
    monkeypatch.delenv("MEDIACRAFT_GENERATE_HTTP_ENDPOINT", raising=False)
    with pytest.raises(ValidationError, match="MEDIACRAFT_GENERATE_HTTP_ENDPOINT is required"):
        GenerateSettings()
    monkeypatch.setenv("MEDIACRAFT_GENERATE_HTTP_ENDPOINT", "file:///etc/passwd")
    with pytest.raises(ValidationError, match="http:// or https://"):
        GenerateSettings()


def test_an_unknown_provider_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_GENERATE_PROVIDER", "magic")
    with pytest.raises(ValidationError):
        GenerateSettings()
