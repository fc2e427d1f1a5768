"""The local stack's plan: what each service process gets on top of the shared environment is
written through its Settings class, so each child reads exactly what the plan meant, and the
pool quotas follow the same rule as the single-process mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity.settings import IdentitySettings
from mediacraft.scheduler.settings import Settings as SchedulerSettings
from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.worker.settings import WorkerSettings
from mediacraft.standalone.plan import environment_of
from mediacraft.standalone.stack import Child, Stack

SETTINGS: dict[str, type[BaseServiceSettings]] = {
    "mediacraft.identity": IdentitySettings,
    "mediacraft.gateway": GatewaySettings,
    "mediacraft.scheduler": SchedulerSettings,
    "mediacraft.worker_watermark": WorkerSettings,
    "mediacraft.worker_merge": WorkerSettings,
    "mediacraft.worker_generate": WorkerSettings,
    "mediacraft.cleanup": BaseServiceSettings,
}


def as_child_reads_it(child: Child, monkeypatch: pytest.MonkeyPatch) -> BaseServiceSettings:
    """The child's settings, read from its environment as its own process would."""
    with monkeypatch.context() as m:
        for key, value in child.env.items():
            if key.startswith("MEDIACRAFT_"):
                m.setenv(key, value)
        return SETTINGS[child.module]()


def test_every_service_process_reads_what_the_plan_gives_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MEDIACRAFT_STORE_URL", raising=False)
    monkeypatch.setenv("MEDIACRAFT_QUOTA_PER_POOL", '{"merge": 5, "watermark": 1}')
    stack = Stack(data_dir=tmp_path, port=8100, identity_port=8101, workers=2)
    children = {child.name: child for child in stack.plan(stack.environment())}
    read = {name: as_child_reads_it(child, monkeypatch) for name, child in children.items()}

    assert isinstance(read["identity"], IdentitySettings) and read["identity"].http_port == 8101
    gateway = read["gateway"]
    assert isinstance(gateway, GatewaySettings)
    assert gateway.http_port == 8100 and gateway.identity_url == "http://127.0.0.1:8101"
    scheduler = read["scheduler-0"]
    assert isinstance(scheduler, SchedulerSettings)
    assert scheduler.quota_per_pool == {"watermark": 1, "merge": 2, "generate": 2}  # at most the pool's processes
    for pool in ("watermark", "merge", "generate"):
        for n in range(2):
            worker = read[f"{pool}-{n}"]
            assert isinstance(worker, WorkerSettings)
            assert worker.worker_id == f"stack-{pool}-{n}" and worker.work_dir == str(tmp_path / "work" / f"{pool}-{n}")
    for settings in read.values():
        assert settings.store_url == f"sqlite:///{tmp_path / 'mediacraft.db'}" and settings.data_dir == str(tmp_path)


METRICS_SERVICES = ("mediacraft.identity", "mediacraft.gateway", "mediacraft.scheduler", "mediacraft.worker_watermark",
                    "mediacraft.worker_merge", "mediacraft.worker_generate")  # fmt: skip


@pytest.mark.parametrize("base", [9300, 0])
def test_each_process_gets_a_metrics_port_of_its_own_or_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base: int
) -> None:
    # the one variable every service reads, set for the gateway: no child may inherit it as is
    monkeypatch.setenv("MEDIACRAFT_METRICS_PORT", "9100")
    stack = Stack(data_dir=tmp_path, workers=2, schedulers=2, metrics_port=base)
    children = [c for c in stack.plan(stack.environment()) if c.module in METRICS_SERVICES]
    ports = {c.name: as_child_reads_it(c, monkeypatch).model_dump()["metrics_port"] for c in children}
    assert ports == stack.metrics_ports()
    assert len(ports) == 2 + 2 + 3 * 2  # gateway, identity, two schedulers, two processes per pool
    if base:
        assert sorted(ports.values()) == list(range(base, base + len(ports)))  # all different
        assert ports["gateway"] == base  # the gateway's keeps the base, as before
    else:
        assert set(ports.values()) == {0}


def test_a_setting_the_service_does_not_have_is_refused() -> None:
    with pytest.raises(KeyError, match="http_prot"):
        environment_of(GatewaySettings, http_prot=8000)
