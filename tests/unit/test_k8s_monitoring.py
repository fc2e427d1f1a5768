"""The monitoring and ingress components of deploy/k8s: monitors that find the services' metrics
ports, alert rules and a dashboard that read only metrics the code exports, and an Ingress that
reaches the gateway with what its live stream and uploads need."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.unit.test_k8s_manifests import BASE, K8S, KUBERNETES_VERSION, ROOT, kustomization_of, load_docs, raw_base

MONITORING = K8S / "components" / "monitoring"
INGRESS = K8S / "components" / "ingress"
SOURCES = [*(ROOT / "services").glob("*/src"), ROOT / "shared" / "src"]
METRIC = re.compile(r"\bmediacraft_[a-z0-9_]+\b")
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def exported_metrics() -> set[str]:
    """Every metric name the services register: string literals, and a prefix variable plus a suffix."""
    names: set[str] = set()
    for source in SOURCES:
        for path in source.rglob("*.py"):
            text = path.read_text()
            names |= set(re.findall(r"""["'](mediacraft_[a-z0-9_]+)["']""", text))
            prefixes = dict(re.findall(r"""\b(\w+)\s*=\s*["'](mediacraft_[a-z0-9_]*_)["']""", text))
            for alias, var in re.findall(r"\b(\w+)\s*=\s*(\w+)\s*$", text, re.M):  # p = PREFIX
                if var in prefixes:
                    prefixes[alias] = prefixes[var]
            for var, prefix in prefixes.items():
                names |= {prefix + s for s in re.findall(rf"""\b{var}\s*\+\s*["']([a-z0-9_]+)["']""", text)}
    return {n for n in names if not n.endswith("_")}


def family(series: str) -> str:
    for suffix in SERIES_SUFFIXES:
        if series.endswith(suffix):
            return series.removesuffix(suffix)
    return series


def docs_of(directory: Path) -> list[dict[str, Any]]:
    return [doc for ref in kustomization_of(directory)["resources"] for doc in load_docs(directory / ref)]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_service_monitors_find_a_metrics_port_of_a_service() -> None:
    services = by_kind(list(raw_base()), "Service")
    monitors = by_kind(docs_of(MONITORING), "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"gateway", "identity", "cleanup"}
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        found = [s for s in services if labels_match(selector, s["metadata"].get("labels", {}))]
        assert found, f"ServiceMonitor {monitor['metadata']['name']} selects no Service"
        for endpoint in monitor["spec"]["endpoints"]:
            for service in found:
                assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_pod_monitors_find_a_metrics_port_on_every_pod_they_select() -> None:
    deployments = by_kind(list(raw_base()), "Deployment")
    monitors = by_kind(docs_of(MONITORING), "PodMonitor")
    covered: set[str] = set()
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        found = [d for d in deployments if labels_match(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert found, f"PodMonitor {monitor['metadata']['name']} selects no pods"
        for deployment in found:
            ports = {p.get("name") for p in deployment["spec"]["template"]["spec"]["containers"][0].get("ports", [])}
            for endpoint in monitor["spec"]["podMetricsEndpoints"]:
                assert endpoint["port"] in ports, f"{deployment['metadata']['name']} has no port {endpoint['port']}"
            covered.add(deployment["metadata"]["name"])
    assert covered == {"scheduler", "worker-watermark", "worker-merge", "worker-generate"}


def rule_expressions() -> list[str]:
    (rule,) = by_kind(docs_of(MONITORING), "PrometheusRule")
    return [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
    return data


def test_alerts_cover_what_an_operator_is_paged_for() -> None:
    (rule,) = by_kind(docs_of(MONITORING), "PrometheusRule")
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    names = {r["alert"] for r in rules}
    assert {
        "MediaCraftQueueBackingUp",
        "MediaCraftTasksFailing",
        "MediaCraftDeadLetters",
        "MediaCraftNoActiveScheduler",
        "MediaCraftWorkersSilent",
        "MediaCraftStorageNearCapacity",
    } <= names
    for r in rules:
        assert r["labels"]["severity"] in {"critical", "warning", "info"}, r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]
        assert r["expr"].count("(") == r["expr"].count(")"), r["alert"]


@pytest.mark.parametrize("where", ["alerts", "dashboard"])
def test_every_metric_read_is_one_the_services_export(where: str) -> None:
    if where == "alerts":
        exprs = rule_expressions()
    else:
        exprs = [t["expr"] for panel in dashboard()["panels"] for t in panel["targets"]]
    read = {family(m) for e in exprs for m in METRIC.findall(e)}
    assert read, "no metric read"
    unknown = read - exported_metrics()
    assert not unknown, f"the {where} read metrics no service exports: {sorted(unknown)}"


def test_the_dashboard_is_a_grafana_dashboard_the_sidecar_loads() -> None:
    data = dashboard()
    assert data["uid"] and data["title"] == "MediaCraft"
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids)) >= 12
    generator = kustomization_of(MONITORING)["configMapGenerator"][0]
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert generator["files"] == ["mediacraft.json=dashboard.json"]


def test_the_ingress_reaches_the_gateway_with_streaming_settings() -> None:
    (ingress,) = by_kind(docs_of(INGRESS), "Ingress")
    kubernetes_validate.validate(ingress, KUBERNETES_VERSION, strict=True)
    gateway = next(s for s in by_kind(list(raw_base()), "Service") if s["metadata"]["name"] == "gateway")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "gateway"
    assert backend["port"]["name"] in {p["name"] for p in gateway["spec"]["ports"]}
    assert backend["port"]["name"] == "http", "the public API, never the metrics port"
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"  # live events pass at once
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"


def test_components_are_not_part_of_the_base() -> None:
    # they need CRDs (monitoring) or a controller and a host name (ingress): an overlay opts in
    assert not any(str(r).startswith("../components") for r in kustomization_of(BASE)["resources"])
