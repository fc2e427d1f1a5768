"""The local stack with metrics on: every service process serves Prometheus text on a port of its
own (`--metrics-port`), and after one image generation the scheduler and the generation worker
count that one task, as started by a person and seen from outside."""

from __future__ import annotations

import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mediacraft.standalone.stack import Stack
from tests.e2e.flows.client import Visitor
from tests.e2e.flows.conftest import launch
from tests.e2e.flows.product import STACK, ProductProcess
from tests.fixtures.waiting import poll

pytestmark = pytest.mark.slow

JOB_TIMEOUT = 90.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
CREATED = re.compile(r"^\w+_created[{ ]", re.MULTILINE)  # a sample line of a `_created` series


def free_ports(count: int) -> int:
    """The first of `count` consecutive loopback ports nobody listens on right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65_535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports")


def scrape(port: int) -> tuple[str, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductProcess]:
    served = launch(request, STACK, tmp_path_factory.mktemp("metrics"), {})
    served.metrics_port = free_ports(6)  # gateway, identity, one scheduler, one worker per pool
    served.start()
    try:
        yield served
    finally:
        try:
            served.stop()
        except BaseException:
            served.kill()
            raise


def test_every_service_serves_its_metrics_and_counts_one_task(stack: ProductProcess, tmp_path: Path) -> None:
    ports = Stack(data_dir=tmp_path, metrics_port=stack.metrics_port).metrics_ports()
    assert list(ports) == ["gateway", "identity", "scheduler-0", "watermark-0", "merge-0", "generate-0"]
    visitor = Visitor(stack.url, "metrics")
    try:
        task_id = visitor.generate_image("one task to count", 96, 96)
        done = poll(
            lambda: (s := visitor.status(task_id))["status"] in ("completed", "failed") and s,
            timeout=JOB_TIMEOUT,
            what="the generation finishing",
        )
    finally:
        visitor.close()
    assert done["status"] == "completed", done

    prefixes = {
        "gateway": "mediacraft_gateway_",
        "identity": "mediacraft_identity_",
        "scheduler-0": "mediacraft_scheduler_",
    }
    for name, port in ports.items():
        text, samples = scrape(port)
        prefix = prefixes.get(name, "mediacraft_worker_")
        assert any(key[0].startswith(prefix) for key in samples), f"{name} on {port} serves no {prefix} metrics"
        assert not CREATED.search(text), f"{name} serves _created series"

    def scheduler_counted() -> Samples | None:
        _, samples = scrape(ports["scheduler-0"])
        done = sample(samples, "mediacraft_scheduler_tasks_completed_total", pool="generate")
        return samples if done == 1 else None

    samples = poll(scheduler_counted, timeout=30, what="the scheduler counting the task")
    assert sample(samples, "mediacraft_scheduler_dispatch_latency_seconds_count", pool="generate") == 1
    assert sample(samples, "mediacraft_scheduler_active") == 1
    _, worker = scrape(ports["generate-0"])
    assert sample(worker, "mediacraft_worker_jobs_total", pool="generate", outcome="succeeded") == 1
    assert sample(worker, "mediacraft_worker_queue_wait_seconds_count", pool="generate") == 1
    assert sample(worker, "mediacraft_worker_taking_jobs", pool="generate", worker="stack-generate-0") == 1
    _, idle = scrape(ports["merge-0"])
    assert sample(idle, "mediacraft_worker_jobs_total", pool="merge", outcome="succeeded") == 0
