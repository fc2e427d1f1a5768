"""The services' own wiring builds from settings alone, connecting to nothing until started."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from mediacraft.gateway.main import build as build_gateway
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity.main import build as build_identity
from mediacraft.identity.settings import IdentitySettings
from mediacraft.shared.adapters.bundle import Adapters


def test_the_gateway_builds_from_urls_without_connecting(tmp_path: Path) -> None:
    settings = GatewaySettings(
        bus_url="amqp://guest:guest@127.0.0.1:1/",
        store_url=f"sqlite:///{tmp_path}/db.sqlite",
        object_store_url=f"file://{tmp_path}/objects",
        identity_url="http://127.0.0.1:1",
        cache_dir=str(tmp_path),
    )
    app = build_gateway(settings, Adapters(settings)).app
    assert isinstance(app, FastAPI)
    assert {"/api/user/info", "/api/tasks/{task_id}/status", "/readyz"} <= set(app.openapi()["paths"])
    assert not (tmp_path / "db.sqlite").exists()


def test_identity_builds_from_urls_without_connecting(tmp_path: Path) -> None:
    settings = IdentitySettings(bus_url="memory://", store_url=f"sqlite:///{tmp_path}/db.sqlite")
    app = build_identity(settings, Adapters(settings)).app
    assert {"/internal/users", "/internal/users/{user_id}", "/readyz"} <= set(app.openapi()["paths"])
    assert not (tmp_path / "db.sqlite").exists()
