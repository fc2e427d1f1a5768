"""The repository's published secrets: one list, kept current by scanning what the repository
ships (Settings defaults, deploy/k8s, docker-compose.yml), and the rule that refuses them: always
outside development, in development whenever the service listens beyond loopback."""

from __future__ import annotations

import importlib
import importlib.util
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity.settings import IdentitySettings
from mediacraft.shared.published_secrets import (
    DEV_COOKIE_KEY,
    DEV_IDENTITY_TOKEN,
    PUBLISHED_SECRETS,
    PublishedSecretError,
    is_loopback,
    is_published,
)

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
# Settings whose values the services check: the cookie keys (a comma list) and the identity token.
# Given only when set (the operator console is off without its token): `${NAME:-}`, never a literal.
OPTIONAL_IN_COMPOSE = {"MEDIACRAFT_OPERATOR_TOKEN"}
GUARDED = {"MEDIACRAFT_COOKIE_KEYS": True, "MEDIACRAFT_IDENTITY_API_TOKEN": False, "MEDIACRAFT_OPERATOR_TOKEN": False}
SECRET_NAME = re.compile(r"(^|_)(keys?|token|secret|password|pass)($|_)", re.IGNORECASE)
REAL = secrets.token_hex(32)


def settings_classes() -> list[type[BaseSettings]]:
    """Every Settings class of the configuration reference (scripts/settings_reference.py)."""
    spec = importlib.util.spec_from_file_location("settings_reference", ROOT / "scripts" / "settings_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [getattr(importlib.import_module(mod), cls) for _, mod, cls in module.SOURCES]


def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def guarded_values(name: str, value: str) -> list[str]:
    """The secret values a guarded setting's value holds (each key of a comma list)."""
    return [v.strip() for v in value.split(",") if v.strip()] if GUARDED[name] else [value]


def literal_guarded_values_in_k8s() -> dict[str, list[str]]:
    """Every literal value given to a guarded setting anywhere in deploy/k8s, by file."""
    found: dict[str, list[str]] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in GUARDED and isinstance(value, str):  # stringData / ConfigMap data
                    found.setdefault(where, []).extend(guarded_values(key, value))
                walk(value, where)
            if node.get("name") in GUARDED and isinstance(node.get("value"), str):  # a container's env
                found.setdefault(where, []).extend(guarded_values(node["name"], node["value"]))
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml_docs(path):
            walk(doc, str(path.relative_to(ROOT)))
    return found


# --- the list cannot go stale ------------------------------------------------------------------


def test_every_secret_default_of_every_settings_class_is_in_the_list() -> None:
    checked = []
    for cls in settings_classes():
        for name, field in cls.model_fields.items():
            if SECRET_NAME.search(name) and isinstance(field.default, str) and field.default:
                checked.append(name)
                assert field.default in PUBLISHED_SECRETS, f"{cls.__name__}.{name} default is published but not listed"
    assert {"cookie_keys", "identity_api_token"} <= set(checked)


def test_every_secret_value_written_in_deploy_k8s_is_in_the_list() -> None:
    found = literal_guarded_values_in_k8s()
    assert found, "the scan found no secret values at all: it no longer reads deploy/k8s"
    for where, values in found.items():
        missing = [v for v in values if not is_published(v)]
        assert not missing, f"{where} publishes secret values the list lacks: {missing}"
    # the base's placeholders are refused because they are listed, not only for their shape
    base = [v for where, values in found.items() if where.endswith("secret.example.yaml") for v in values]
    assert base and all(v in PUBLISHED_SECRETS for v in base)


def test_docker_compose_gives_no_literal_secret_to_any_service() -> None:
    compose = yaml_docs(COMPOSE)[0]
    services = compose["services"]
    seen = set()
    for service, spec in services.items():
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for name, value in environment.items():
            text = "" if value is None else str(value)
            optional = name in OPTIONAL_IN_COMPOSE  # empty turns its feature off
            if name in GUARDED:
                seen.add(name)
                shape = rf"\$\{{{name}:-\}}" if optional else rf"\$\{{{name}:\?[^}}]+\}}"
                assert re.fullmatch(shape, text), f"{service}: {name} is not a required variable"
            if SECRET_NAME.search(name):
                assert re.fullmatch(r"\$\{\w+:-\}" if optional else r"\$\{\w+:\?[^}]+\}", text), (
                    f"{service}: {name} is a literal, not a required variable"
                )
            password = re.match(r"^\w+://[^:/@]+:([^@]+)@", text)  # a URL with credentials
            if password:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", password.group(1)), (
                    f"{service}: {name} has a literal password"
                )
            assert not is_published(text), f"{service}: {name} is a published secret"
    assert seen == set(GUARDED), "compose no longer gives the services their keys"


# --- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "192.168.1.2", "gateway", "example.com"])
def test_addresses_reachable_from_elsewhere(host: str) -> None:
    assert not is_loopback(host)


def test_placeholders_are_published_whatever_their_exact_text() -> None:
    assert is_published("REPLACE_ME_WITH_A_RANDOM_KEY_OF_AT_LEAST_32_BYTES")
    assert is_published("replace-me-with-something-long-enough")
    assert not is_published(REAL)


PUBLISHED = sorted(PUBLISHED_SECRETS)


@pytest.mark.parametrize("value", [v for v in PUBLISHED if len(v) >= 16])
def test_a_gateway_on_a_public_address_refuses_every_published_cookie_key(value: str) -> None:
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_COOKIE_KEYS"):
        GatewaySettings(http_host="0.0.0.0", cookie_keys=value, identity_api_token=REAL)


def test_a_published_key_anywhere_in_the_rotation_list_is_refused() -> None:
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_COOKIE_KEYS"):
        GatewaySettings(http_host="0.0.0.0", cookie_keys=f"{REAL},{DEV_COOKIE_KEY}", identity_api_token=REAL)


@pytest.mark.parametrize("value", PUBLISHED)
def test_a_public_address_refuses_every_published_identity_token(value: str) -> None:
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_IDENTITY_API_TOKEN"):
        GatewaySettings(http_host="0.0.0.0", cookie_keys=REAL, identity_api_token=value)
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_IDENTITY_API_TOKEN"):
        IdentitySettings(http_host="0.0.0.0", identity_api_token=value)


@pytest.mark.parametrize("value", [v for v in PUBLISHED if len(v) >= 16])
def test_production_refuses_published_values_even_on_loopback(value: str) -> None:
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_COOKIE_KEYS"):
        GatewaySettings(environment="production", cookie_keys=value, identity_api_token=REAL)
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_IDENTITY_API_TOKEN"):
        IdentitySettings(environment="production", identity_api_token=value)


@pytest.mark.parametrize("value", [v for v in PUBLISHED if len(v) >= 24])
def test_a_published_operator_token_is_refused_where_the_console_could_be_reached(value: str) -> None:
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_OPERATOR_TOKEN"):
        GatewaySettings(http_host="0.0.0.0", cookie_keys=REAL, identity_api_token=REAL, operator_token=value)
    with pytest.raises(PublishedSecretError, match="MEDIACRAFT_OPERATOR_TOKEN"):
        GatewaySettings(environment="production", cookie_keys=REAL, identity_api_token=REAL, operator_token=value)
    assert GatewaySettings(
        http_host="0.0.0.0", cookie_keys=REAL, identity_api_token=REAL, operator_token=REAL
    ).console_on


def test_development_on_loopback_keeps_the_defaults() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        gateway = GatewaySettings(http_host=host)
        assert gateway.cookie_key_list == (DEV_COOKIE_KEY,) and gateway.identity_api_token == DEV_IDENTITY_TOKEN
        assert IdentitySettings(http_host=host).identity_api_token == DEV_IDENTITY_TOKEN


def test_real_secrets_are_accepted_on_a_public_address_in_every_mode() -> None:
    for environment in ("development", "production"):
        gateway = GatewaySettings(
            environment=environment, http_host="0.0.0.0", cookie_keys=REAL, identity_api_token=REAL
        )
        assert gateway.cookie_key_list == (REAL,)
        assert IdentitySettings(environment=environment, http_host="0.0.0.0", identity_api_token=REAL).http_port == 8001


def test_the_refusal_names_the_setting_and_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("MEDIACRAFT_IDENTITY_API_TOKEN", REAL)
    monkeypatch.delenv("MEDIACRAFT_COOKIE_KEYS", raising=False)
    with pytest.raises(PublishedSecretError) as refused:
        GatewaySettings()
    message = str(refused.value)
    assert "MEDIACRAFT_COOKIE_KEYS" in message and "0.0.0.0" in message and DEV_COOKIE_KEY not in message
