"""Operator endpoints stay off the public port: metrics on a port of their own, the docs page from
the package under a strict policy (and off when asked), nosniff on JSON answers, unknown hosts
refused."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.gateway import main as gateway_main
from mediacraft.gateway.identity_client import InProcessIdentityClient
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity.api import create_app as identity_app
from mediacraft.identity.service import IdentityService
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.clock import SystemClock
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import TEST_COOKIE_KEY, gateway_settings, serve_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def gateway_process(tmp_path: Path, **overrides: Any) -> AsyncIterator[gateway_main.Gateway]:
    """The gateway as its own process wires it (main.build): public port and metrics port."""
    settings = gateway_settings(
        tmp_path,
        http_port=free_port(),
        data_dir=str(tmp_path),
        store_url=f"sqlite:///{tmp_path / 'mediacraft.db'}",
        object_store_url=f"file://{tmp_path / 'objects'}",
        bus_url="memory://",
        **overrides,
    )
    adapters = Adapters(settings)
    _ = (adapters.bus, adapters.store, adapters.objects)  # made on first use, started together
    await adapters.start()
    identity = IdentityService(users=adapters.store, tasks=adapters.store, bus=adapters.bus, clock=SystemClock())
    gw = gateway_main.build(settings, adapters, identity=InProcessIdentityClient(identity))
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()
        await adapters.close()


async def test_metrics_are_served_on_the_metrics_port_and_not_on_the_public_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    async with gateway_process(tmp_path, metrics_host="127.0.0.1", metrics_port=metrics_port) as gw:
        public = f"http://127.0.0.1:{gw.settings.http_port}"
        async with httpx.AsyncClient(base_url=public, timeout=10) as c:
            assert (await c.get("/api/user/info")).status_code == 200
            hidden = await c.get("/metrics")
            assert hidden.status_code == 404
            body = hidden.json()
            assert body["success"] is False and body["error_code"] == "not_found" and body["code"] == 404
        async with httpx.AsyncClient(timeout=10) as c:
            scraped = await c.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        # the request made on the public port is counted, with its route and status
        line = re.search(
            r'^mediacraft_gateway_requests_total\{method="GET",route="/api/user/info",status="200"\} (\S+)$',
            scraped.text,
            re.M,
        )
        assert line and float(line.group(1)) == 1.0
        assert "mediacraft_gateway_identities_minted_total 1.0" in scraped.text
    # stopped with the gateway: nothing answers on the metrics port any more
    async with httpx.AsyncClient(timeout=5) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(f"http://127.0.0.1:{metrics_port}/metrics")


async def test_a_metrics_port_of_zero_serves_no_metrics(tmp_path: Path) -> None:
    async with gateway_process(tmp_path, metrics_port=0) as gw:
        assert not gw.metrics.enabled
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw.settings.http_port}", timeout=10) as c:
            assert (await c.get("/metrics")).status_code == 404


async def test_the_docs_page_loads_only_its_own_assets_under_a_strict_policy(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path) as gw, gw.client() as c:
        page = await c.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "<script>" not in page.text  # no inline script: the policy would refuse it
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        for url in urls:
            asset = await c.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["x-content-type-options"] == "nosniff"
        init = await c.get("/docs/init.js")
        assert "validatorUrl: null" in init.text and "/openapi.json" in init.text
        assert (await c.get("/openapi.json")).status_code == 200


async def test_docs_off_answers_404_and_the_schema_stays(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, docs_enabled=False) as gw, gw.client() as c:
        docs = await c.get("/docs")
        assert docs.status_code == 404 and docs.json()["error_code"] == "not_found"
        assert (await c.get("/docs/assets/swagger-ui-bundle.js")).status_code == 404
        assert (await c.get("/openapi.json")).status_code == 200


async def test_schema_off_turns_the_docs_off_too(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, openapi_enabled=False) as gw, gw.client() as c:
        assert (await c.get("/openapi.json")).status_code == 404
        assert (await c.get("/docs")).status_code == 404


def test_production_serves_no_docs_unless_asked() -> None:
    production: dict[str, Any] = {
        "environment": "production",
        "cookie_keys": TEST_COOKIE_KEY,
        "identity_api_token": "a-real-token-0123456789",
    }
    assert not GatewaySettings(**production).docs_on
    assert GatewaySettings(**production, docs_enabled=True).docs_on
    assert GatewaySettings(environment="development").docs_on


async def test_json_answers_carry_nosniff(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path) as gw, gw.client() as c:
        for response in (
            await c.get("/api/user/info"),
            await c.get("/healthz"),
            await c.get("/api/tasks/not-a-task/status"),
            await c.get("/nowhere"),
            await c.get("/openapi.json"),
        ):
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers.get_list("x-content-type-options") == ["nosniff"], response.url


async def test_identity_json_answers_carry_nosniff(tmp_path: Path) -> None:
    from mediacraft.shared.adapters.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "identity.db", clock=SystemClock())
    await store.start()
    try:
        app = identity_app(IdentityService(users=store, tasks=store, bus=None, clock=SystemClock()), token="t" * 32)
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as c:
            for response in (await c.get("/healthz"), await c.post("/internal/users")):
                assert response.headers["content-type"].startswith("application/json")
                assert response.headers["x-content-type-options"] == "nosniff"
            assert (await c.get("/metrics")).status_code == 404  # on its metrics port
    finally:
        await store.close()


async def test_an_unknown_host_is_refused_and_the_configured_one_served(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, allowed_hosts="media.example.com, .example.org") as gw, gw.client() as c:
        refused = await c.get("/api/user/info", headers={"Host": "evil.example.net"})
        assert refused.status_code == 400
        body = refused.json()
        assert body["code"] == 400 and body["error_code"] == "invalid_host" and body["success"] is False
        assert "set-cookie" not in refused.headers  # refused before any identity is minted
        assert gw.metric("mediacraft_gateway_identities_minted_total") == 0
        assert (await c.get("/", headers={"Host": "evil.example.net"})).status_code == 400
        for host in ("media.example.com", "MEDIA.example.com:8443", "api.example.org"):
            served = await c.get("/api/user/info", headers={"Host": host})
            assert served.status_code == 200, host
        # the orchestrator's probes name the pod's address
        assert (await c.get("/healthz", headers={"Host": "10.0.0.7:8000"})).status_code == 200
