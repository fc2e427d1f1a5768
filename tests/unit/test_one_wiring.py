"""Each service has one wiring, `build(settings, adapters)`, used by its own process and by the
single-process mode alike: a setting given in the environment reaches the service in both modes,
and in the single-process mode every service shares one set of adapters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from mediacraft.cleanup import main as cleanup
from mediacraft.cleanup.settings import Settings as CleanupSettings
from mediacraft.gateway import main as gateway
from mediacraft.gateway.identity_client import HttpIdentityClient, InProcessIdentityClient
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity import main as identity
from mediacraft.identity.settings import IdentitySettings
from mediacraft.identity.throttle import SeenThrottle
from mediacraft.scheduler import main as scheduler
from mediacraft.scheduler.settings import Settings as SchedulerSettings
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.clock import utcnow
from mediacraft.shared.worker.serve import WorkerPool
from mediacraft.standalone.main import Standalone
from mediacraft.standalone.settings import StandaloneSettings
from mediacraft.worker_generate import main as worker_generate
from mediacraft.worker_generate.pool import PoolProcessor
from mediacraft.worker_generate.processor import GenerateProcessor
from mediacraft.worker_generate.providers.http import HttpProvider
from mediacraft.worker_generate.scripts.http import ChatScriptProvider
from mediacraft.worker_merge import main as worker_merge
from mediacraft.worker_watermark import main as worker_watermark


@pytest.fixture(autouse=True)
def embedded_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A service run alone gets its adapters from these URLs (nothing connects: nothing starts)."""
    monkeypatch.setenv("MEDIACRAFT_BUS_URL", "memory://")
    monkeypatch.setenv("MEDIACRAFT_STORE_URL", f"sqlite:///{tmp_path}/alone.db")
    monkeypatch.setenv("MEDIACRAFT_OBJECT_STORE_URL", f"file://{tmp_path}/alone-objects")
    monkeypatch.setenv("MEDIACRAFT_CACHE_DIR", str(tmp_path / "cache"))


def single_process(tmp_path: Path, **values: Any) -> Standalone:
    return Standalone(StandaloneSettings(data_dir=str(tmp_path / "single"), **values))


def throttles_one_user_per_five_seconds(throttle: SeenThrottle) -> bool:
    """The behaviour of MEDIACRAFT_SEEN_WRITE_INTERVAL_SECONDS=5 and MEDIACRAFT_SEEN_THROTTLE_USERS=1."""
    t0 = utcnow()
    later = t0 + timedelta(seconds=5)
    return (
        throttle.due("a", t0)
        and not throttle.due("a", t0 + timedelta(seconds=4))  # within the interval
        and throttle.due("a", later)
        and throttle.due("b", t0)  # room for one user: "a" is forgotten...
        and throttle.due("a", later)  # ...so it is due again at once
    )


def test_identity_has_its_throttle_settings_in_both_modes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIACRAFT_SEEN_WRITE_INTERVAL_SECONDS", "5")
    monkeypatch.setenv("MEDIACRAFT_SEEN_THROTTLE_USERS", "1")
    settings = IdentitySettings()
    alone = identity.build(settings, Adapters(settings))
    single = single_process(tmp_path).identity
    assert throttles_one_user_per_five_seconds(alone.service.throttle)
    assert throttles_one_user_per_five_seconds(single.service.throttle)
    assert alone.server is not None and alone.server.config.port == settings.http_port
    assert single.server is None  # in one process the gateway calls identity directly


def test_the_gateway_has_its_server_settings_in_both_modes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIACRAFT_SHUTDOWN_GRACE_SECONDS", "7")
    monkeypatch.setenv("MEDIACRAFT_FORWARDED_ALLOW_IPS", "10.0.0.1")
    settings = GatewaySettings()
    alone = gateway.build(settings, Adapters(settings))
    single = single_process(tmp_path, http_port=8123).gateway
    for part in (alone, single):
        assert part.config.timeout_graceful_shutdown == 7
        assert part.config.forwarded_allow_ips == "10.0.0.1"
    assert single.config.port == 8123
    assert isinstance(alone.identity, HttpIdentityClient) and isinstance(single.identity, InProcessIdentityClient)


def test_the_scheduler_has_its_settings_in_both_modes_and_one_process_caps_pools_by_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDIACRAFT_QUOTA_PER_USER", "3")
    monkeypatch.setenv("MEDIACRAFT_QUOTA_PER_POOL", '{"merge": 9, "watermark": 1}')
    settings = SchedulerSettings()
    alone = scheduler.build(settings, Adapters(settings))
    single = single_process(tmp_path, merge_workers=2, generate_workers=1).scheduler
    assert alone.service.settings.quota_per_user == single.service.settings.quota_per_user == 3
    assert alone.service.settings.quota_per_pool == {"merge": 9, "watermark": 1}
    # never more jobs dispatched to a pool than it has workers
    assert single.service.settings.quota_per_pool == {"watermark": 1, "merge": 2, "generate": 1}


@pytest.mark.parametrize("worker", [worker_watermark, worker_merge], ids=["watermark", "merge"])
def test_a_media_worker_has_its_settings_in_both_modes(
    worker: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDIACRAFT_HEARTBEAT_SECONDS", "3")
    settings = worker.settings()
    adapters = Adapters(settings)
    alone: WorkerPool = worker.build(settings, adapters)
    [runtime] = alone.runtimes
    assert runtime.pool == worker.POOL and runtime.settings.heartbeat_seconds == 3
    assert [name for name, _ in adapters.made()] == ["object store", "bus"]  # a worker makes no task store

    standalone = single_process(tmp_path, watermark_workers=2, merge_workers=2, drain_seconds=4.0)
    [single] = [p for p in standalone.pools if p.pool == worker.POOL]
    assert len(single.runtimes) == 2 and len({r.worker_id for r in single.runtimes}) == 2
    for runtime in single.runtimes:
        assert runtime.settings.heartbeat_seconds == 3
        assert runtime.settings.shutdown_grace_seconds == 4.0  # on Ctrl-C, the mode's drain time
        assert runtime.bus is standalone.adapters.bus and runtime.objects is standalone.adapters.objects


def test_the_generate_worker_uses_the_configured_provider_in_both_modes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDIACRAFT_GENERATE_PROVIDER", "http")
    monkeypatch.setenv("MEDIACRAFT_GENERATE_HTTP_ENDPOINT", "http://127.0.0.1:1/generate")
    monkeypatch.setenv("MEDIACRAFT_SCRIPT_PROVIDER", "http")
    monkeypatch.setenv("MEDIACRAFT_SCRIPT_HTTP_ENDPOINT", "http://127.0.0.1:1/v1/chat/completions")
    settings = worker_generate.settings()
    alone = worker_generate.build(settings, Adapters(settings))
    standalone = single_process(tmp_path, generate_workers=1)
    [single] = [p for p in standalone.pools if p.pool == "generate"]
    for pool in (alone, single):
        processor = pool.runtimes[0].processor
        assert isinstance(processor, PoolProcessor)
        assert isinstance(processor.media, GenerateProcessor) and isinstance(processor.media.provider, HttpProvider)
        assert isinstance(processor.scripts.provider, ChatScriptProvider)


def test_a_wrong_provider_setting_stops_the_single_process_from_starting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDIACRAFT_GENERATE_PROVIDER", "http")  # and no endpoint
    with pytest.raises(ValidationError, match="GENERATE_HTTP_ENDPOINT"):
        single_process(tmp_path)


def test_cleanup_has_its_settings_in_both_modes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIACRAFT_STORAGE_TOP_USERS", "4")
    settings = CleanupSettings()
    alone = cleanup.build(settings, Adapters(settings))
    single = single_process(tmp_path).cleanup
    assert alone.service.settings.storage_top_users == single.service.settings.storage_top_users == 4
    assert alone.settings.cleanup_metrics_port == 9464
    assert single.settings.cleanup_metrics_port == 0  # one HTTP port in this mode, unless asked for
    monkeypatch.setenv("MEDIACRAFT_CLEANUP_METRICS_PORT", "9999")
    assert single_process(tmp_path).cleanup.settings.cleanup_metrics_port == 9999


def test_the_single_process_serves_at_most_the_gateways_metrics_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alone = scheduler.build(SchedulerSettings(), Adapters(SchedulerSettings()))
    assert alone.metrics.port == 9102  # the scheduler's own process serves its metrics
    pool = worker_merge.build(worker_merge.settings(), Adapters(worker_merge.settings()))
    assert pool.metrics is not None and pool.metrics.port == 9103  # and each worker process its own
    # every service reads MEDIACRAFT_METRICS_PORT: in one process only the gateway may bind it
    monkeypatch.setenv("MEDIACRAFT_METRICS_PORT", "9200")
    standalone = single_process(tmp_path)
    assert standalone.gateway_settings.metrics_port == 9200
    assert standalone.scheduler.metrics.port == 0 and not standalone.scheduler.metrics.enabled
    assert standalone.pools and all(p.metrics is not None and p.metrics.port == 0 for p in standalone.pools)
    assert {s.metrics_port for s in standalone.worker_settings.values()} == {0}  # type: ignore[attr-defined]


def test_one_process_shares_one_bus_one_store_and_one_object_store(tmp_path: Path) -> None:
    standalone = single_process(tmp_path)
    adapters = standalone.adapters
    ctx = standalone.app.state.ctx
    assert standalone.scheduler.service.bus is standalone.identity.service.bus is ctx.bus is adapters.bus
    assert standalone.cleanup.service.store is standalone.identity.service.users is ctx.store is adapters.store
    assert standalone.cleanup.service.objects is ctx.objects is adapters.objects
    assert str(tmp_path / "single") in adapters.settings.store_url
    assert not (tmp_path / "alone.db").exists()  # the environment's URLs are not this mode's
