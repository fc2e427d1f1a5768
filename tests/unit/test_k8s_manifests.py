"""deploy/k8s as a cluster would see it: references resolve, pods are locked down and sized,
workers cannot reach the task store, autoscalers and budgets point at real Deployments, and the
environment each Deployment gets is one its service's Settings class accepts.

The checks run on the base as written and, when `kubectl` or `kustomize` is on PATH, on the
rendered base and the rendered local overlay too (those cases skip only when neither binary is
there).
"""

from __future__ import annotations

import base64
import functools
import importlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import kubernetes_validate
import pytest
import yaml

from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.topology import job_queue
from mediacraft.shared.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
LOCAL = K8S / "overlays" / "local"

NAMESPACE = "mediacraft"
SECRET = "mediacraft-secrets"
CONFIG = "mediacraft-config"
STORE_KEY = "MEDIACRAFT_STORE_URL"
SERVICES = ("gateway", "identity", "scheduler", "worker-watermark", "worker-merge")
HTTP_PORTS = {"gateway": 8000, "identity": 8001}
WORKER_POOLS = {"worker-watermark": "watermark", "worker-merge": "merge"}
MONGODB_PORT = 27017
# Worker shutdown after the grace: up to 60 s for the processing thread to stop, then hand-back.
HAND_BACK_SECONDS = 60
KUBERNETES_VERSION = "1.30"  # the oldest minor still commonly run; schemas only grow after it


# --- loading -----------------------------------------------------------------------------------


def load_docs(path: Path) -> list[Any]:
    """Every non-empty YAML document of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomization_of(directory: Path) -> dict[str, Any]:
    """The kustomization file of a directory."""
    return load_docs(directory / "kustomization.yaml")[0]


def referenced_paths(directory: Path) -> list[Path]:
    """Files and directories a kustomization names: resources and patch files."""
    kust = kustomization_of(directory)
    refs = [directory / r for r in kust.get("resources", [])]
    refs += [directory / p["path"] for p in kust.get("patches", []) if "path" in p]
    return refs


@functools.cache
def raw_base() -> tuple[dict[str, Any], ...]:
    """The base's resources as written, in kustomization order (shared: tests only read it)."""
    return tuple(doc for path in referenced_paths(BASE) for doc in load_docs(path))


def _renderer() -> list[str] | None:
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    if kustomize := shutil.which("kustomize"):
        return [kustomize, "build"]
    return None


@functools.cache
def _render(directory: Path) -> tuple[dict[str, Any], ...]:
    command = _renderer()
    assert command is not None
    done = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"rendering {directory} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc is not None)


def rendered(directory: Path) -> tuple[dict[str, Any], ...]:
    """The kustomize output for a directory; skips when no renderer is installed."""
    if _renderer() is None:
        pytest.skip("neither kubectl nor kustomize is installed: rendered checks need one")
    return _render(directory)


@dataclass
class Manifests:
    """A set of Kubernetes resources with lookups by kind and name."""

    docs: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Every resource of a kind."""
        return [d for d in self.docs if d["kind"] == kind]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        """The resource of that kind and name, if any."""
        return next((d for d in self.of_kind(kind) if d["metadata"]["name"] == name), None)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The resource of that kind and name; fails the test when it is missing."""
        found = self.find(kind, name)
        assert found is not None, f"no {kind} named {name}"
        return found

    @property
    def deployments(self) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["name"]: d for d in self.of_kind("Deployment")}

    def config_data(self, name: str) -> dict[str, str]:
        """A ConfigMap's data."""
        return dict(self.get("ConfigMap", name).get("data", {}))

    def secret_data(self, name: str) -> dict[str, str]:
        """A Secret's values, from stringData (as written here) or base64 data."""
        secret = self.get("Secret", name)
        values = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
        values.update(secret.get("stringData", {}))
        return values


BUNDLES: dict[str, Callable[[], tuple[dict[str, Any], ...]]] = {
    "base": raw_base,
    "base-rendered": lambda: rendered(BASE),
    "local-rendered": lambda: rendered(LOCAL),
}
BASE_BUNDLES = ("base", "base-rendered")


@pytest.fixture(params=list(BUNDLES))
def bundle(request: pytest.FixtureRequest) -> Manifests:
    return Manifests(BUNDLES[request.param]())


@pytest.fixture(params=BASE_BUNDLES)
def base_bundle(request: pytest.FixtureRequest) -> Manifests:
    return Manifests(BUNDLES[request.param]())


@pytest.fixture
def local() -> Manifests:
    return Manifests(rendered(LOCAL))


# --- helpers -----------------------------------------------------------------------------------


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(deployment)
    return spec["containers"] + spec.get("initContainers", [])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) matches a label set."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity ("250m", "1", "512Mi") as a number."""
    match = _QUANTITY.match(str(value))
    assert match and match.group(2) in _SUFFIX, f"not a quantity: {value!r}"
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def resolved_env(m: Manifests, deployment: dict[str, Any]) -> dict[str, str]:
    """The environment the first container starts with: ConfigMaps, literals, Secret keys."""
    container = pod_spec(deployment)["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(m.config_data(source["configMapRef"]["name"]))
        if "secretRef" in source:
            env.update(m.secret_data(source["secretRef"]["name"]))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = m.secret_data(ref["name"])[ref["key"]]
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = m.config_data(ref["name"])[ref["key"]]
    return env


def settings_class(service: str) -> tuple[type[BaseServiceSettings], bool]:
    """The Settings class a service builds, and whether it is the service's own (not the base)."""
    if service in WORKER_POOLS:
        return WorkerSettings, True
    name = f"mediacraft.{service.replace('-', '_')}.settings"
    if importlib.util.find_spec(name) is None:
        return BaseServiceSettings, False  # the service has not declared its own settings yet
    module = importlib.import_module(name)
    (cls,) = [
        c for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, BaseServiceSettings) and c.__module__ == name
    ]
    return cls, True


def env_field(name: str) -> str:
    return name.removeprefix("MEDIACRAFT_").lower()


def settings_from_env(
    cls: type[BaseServiceSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> BaseServiceSettings:
    """Build settings the way a service does: from exactly this environment, nothing inherited."""
    for key in [k for k in os.environ if k.startswith("MEDIACRAFT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def unwritable_paths(deployment: dict[str, Any], settings: BaseServiceSettings) -> list[str]:
    """Directories a service writes to (data, work, cache) that no emptyDir volume backs."""
    spec = pod_spec(deployment)
    scratch = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
    mounts = [
        Path(m["mountPath"]) for m in spec["containers"][0].get("volumeMounts", []) if m["name"] in scratch
    ]
    paths = [settings.data_dir, getattr(settings, "work_dir", None), getattr(settings, "cache_path", None)]
    return [
        str(p) for p in paths
        if p is not None and not any(Path(p).is_absolute() and Path(p).is_relative_to(m) for m in mounts)
    ]


# --- the tree ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.yaml")), ids=lambda p: str(p.relative_to(K8S)))
def test_every_yaml_document_is_a_typed_object(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} holds no document"
    for doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), f"{path}: {doc!r:.80}"
        if doc["kind"] != "Kustomization":
            assert doc.get("metadata", {}).get("name"), f"{path}: a {doc['kind']} without a name"


@pytest.mark.parametrize(
    "directory",
    sorted(p.parent for p in K8S.rglob("kustomization.yaml")),
    ids=lambda p: str(p.relative_to(K8S)),
)
def test_kustomization_references_exist(directory: Path) -> None:
    refs = referenced_paths(directory)
    assert refs
    for ref in refs:
        assert ref.exists(), f"{directory / 'kustomization.yaml'} names a missing {ref}"
        if ref.is_dir():
            assert (ref / "kustomization.yaml").exists(), f"{ref} is not a kustomization"


def test_every_base_file_is_listed_in_the_kustomization() -> None:
    listed = {p.resolve() for p in referenced_paths(BASE)}
    on_disk = {p.resolve() for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert on_disk - listed == set(), "files in base/ that kustomize would silently leave out"


def test_base_has_the_namespace_and_one_deployment_per_service() -> None:
    m = Manifests(raw_base())
    assert kustomization_of(BASE)["namespace"] == NAMESPACE
    assert m.find("Namespace", NAMESPACE) is not None
    assert set(m.deployments) == set(SERVICES)
    retaggable = {image["name"] for image in kustomization_of(BASE)["images"]}
    for name, deployment in m.deployments.items():
        image = pod_spec(deployment)["containers"][0]["image"]
        assert image == f"mediacraft/{name}:latest"
        assert image.split(":")[0] in retaggable, f"{name}'s image is not in the images transformer list"


def test_resources_validate_against_the_kubernetes_schema(bundle: Manifests) -> None:
    problems = []
    for doc in bundle.docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: no schema here; test_scaled_objects_* check its fields
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")
    assert not problems, "\n".join(problems)


# --- pods --------------------------------------------------------------------------------------


def test_every_container_has_requests_and_limits(bundle: Manifests) -> None:
    problems = []
    for name, deployment in bundle.deployments.items():
        for c in containers(deployment):
            res = c.get("resources", {})
            for resource in ("cpu", "memory"):
                request = res.get("requests", {}).get(resource)
                limit = res.get("limits", {}).get(resource)
                if request is None or limit is None:
                    problems.append(f"{name}/{c['name']}: {resource} request or limit missing")
                elif quantity(request) > quantity(limit):
                    problems.append(f"{name}/{c['name']}: {resource} request {request} > limit {limit}")
    assert not problems, "\n".join(problems)


def test_workers_are_sized_for_media_work(base_bundle: Manifests) -> None:
    for name in WORKER_POOLS:
        limits = pod_spec(base_bundle.deployments[name])["containers"][0]["resources"]["limits"]
        assert quantity(limits["cpu"]) >= 1
        assert quantity(limits["memory"]) >= 2**30


def test_http_services_probe_healthz_and_readyz(bundle: Manifests) -> None:
    for name, port in HTTP_PORTS.items():
        container = pod_spec(bundle.deployments[name])["containers"][0]
        ports = {p.get("name"): p["containerPort"] for p in container["ports"]}
        assert port in ports.values()
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            assert ports.get(get["port"], get["port"]) == port, f"{name} {probe} probes another port"


def test_services_without_http_probe_the_broker_connection_by_exec(bundle: Manifests) -> None:
    for name in ("scheduler", *WORKER_POOLS):
        spec = pod_spec(bundle.deployments[name])
        container = spec["containers"][0]
        assert "ports" not in container, f"{name} serves nothing, yet declares ports"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert "httpGet" not in container.get(probe, {}), f"{name} has an HTTP {probe} and no HTTP server"
        command = container["readinessProbe"]["exec"]["command"]
        script = Path(command[-1])
        mount = next(v for v in container["volumeMounts"] if script.is_relative_to(v["mountPath"]))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        keys = bundle.config_data(volume["configMap"]["name"])
        assert script.name in keys, f"{name} runs {script}, which its ConfigMap does not hold"


def test_pods_run_non_root_on_a_read_only_root(bundle: Manifests) -> None:
    problems = []
    for name, deployment in bundle.deployments.items():
        spec = pod_spec(deployment)
        pod_sc = spec.get("securityContext", {})
        if not (pod_sc.get("runAsNonRoot") is True and pod_sc.get("runAsUser") == 10001):
            problems.append(f"{name}: not pinned to the image's non-root uid 10001")
        if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a Kubernetes API token it never uses")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(deployment):
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{name}/{c['name']}: writable root filesystem")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}/{c['name']}: privilege escalation allowed")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{name}/{c['name']}: capabilities not dropped")
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
                problems.append(f"{name}/{c['name']}: /tmp is not a writable emptyDir")
            for path, volume in mounts.items():
                if volume not in volumes:
                    problems.append(f"{name}/{c['name']}: {path} mounts an undeclared volume {volume}")
    assert not problems, "\n".join(problems)


def test_workers_have_a_sized_work_volume_and_time_to_hand_back_a_job(
    bundle: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in WORKER_POOLS:
        deployment = bundle.deployments[name]
        spec = pod_spec(deployment)
        env = resolved_env(bundle, deployment)
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        work = next(v for v in spec["volumes"] if v["name"] == mounts[env["MEDIACRAFT_WORK_DIR"]])
        assert quantity(work["emptyDir"]["sizeLimit"]) >= 2 * 2**30, f"{name}: work volume too small"
        settings = settings_from_env(WorkerSettings, env, monkeypatch)
        needed = settings.shutdown_grace_seconds + HAND_BACK_SECONDS
        assert spec["terminationGracePeriodSeconds"] >= needed, f"{name} is killed before handing back a job"


def test_workers_hold_no_store_credentials(bundle: Manifests) -> None:
    secret_names = [s["metadata"]["name"] for s in bundle.of_kind("Secret")]
    secrets_with_store = {n for n in secret_names if STORE_KEY in bundle.secret_data(n)}
    assert secrets_with_store, "the store URL should live in a Secret"
    for name in WORKER_POOLS:
        deployment = bundle.deployments[name]
        assert STORE_KEY not in resolved_env(bundle, deployment), f"{name} gets the store URL"
        for c in containers(deployment):
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef", {})
                assert ref.get("key") != STORE_KEY, f"{name} reads the store URL as {var['name']}"
            for source in c.get("envFrom", []):
                imported = source.get("secretRef", {}).get("name")
                assert imported not in secrets_with_store, f"{name} imports the store URL"
        for volume in pod_spec(deployment).get("volumes", []):
            for source in [volume, *volume.get("projected", {}).get("sources", [])]:
                secret = source.get("secret", {})
                mounted = secret.get("secretName", secret.get("name"))
                assert mounted not in secrets_with_store, f"{name} mounts the Secret holding the store URL"


def test_every_secret_and_configmap_reference_resolves(bundle: Manifests) -> None:
    for name, deployment in bundle.deployments.items():
        resolved_env(bundle, deployment)  # raises on a missing Secret, ConfigMap or key
        for volume in pod_spec(deployment).get("volumes", []):
            if "configMap" in volume:
                bundle.get("ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                bundle.get("Secret", volume["secret"]["secretName"])


# --- configuration -----------------------------------------------------------------------------


def test_each_service_accepts_the_environment_its_deployment_gives_it(
    bundle: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, deployment in bundle.deployments.items():
        cls, own = settings_class(name)
        env = resolved_env(bundle, deployment)
        settings = settings_from_env(cls, env, monkeypatch)  # raises when a value does not parse
        assert settings.bus_url == env["MEDIACRAFT_BUS_URL"]
        assert settings.retry_delays_ms == (60_000, 300_000, 900_000)
        if name in HTTP_PORTS and own:
            assert (settings.http_host, settings.http_port) == ("0.0.0.0", HTTP_PORTS[name]), (
                f"{name} would not listen where its probes and Service connect"
            )
        assert not unwritable_paths(deployment, settings), f"{name} would write to its read-only root"
        if own:
            container = pod_spec(deployment)["containers"][0]
            direct = [v["name"] for v in container.get("env", []) if v["name"].startswith("MEDIACRAFT_")]
            unknown = [k for k in direct if env_field(k) not in cls.model_fields]
            assert not unknown, f"{name} sets variables its Settings ignore: {unknown}"


def test_shared_config_names_only_real_settings(bundle: Manifests, monkeypatch: pytest.MonkeyPatch) -> None:
    from mediacraft.scheduler.settings import Settings as SchedulerSettings

    known = set(WorkerSettings.model_fields) | set(SchedulerSettings.model_fields)
    for name in SERVICES:
        known |= set(settings_class(name)[0].model_fields)
    data = bundle.config_data(CONFIG)
    assert STORE_KEY not in data, "the shared ConfigMap reaches the workers too"
    unknown = [k for k in data if env_field(k) not in known]
    assert not unknown, f"{CONFIG} keys no service reads: {unknown}"
    scheduler = settings_from_env(SchedulerSettings, data, monkeypatch)
    assert (scheduler.quota_per_user, scheduler.quota_global) == (1, 5)


def test_every_service_declares_the_same_delay_queues(bundle: Manifests) -> None:
    values = {resolved_env(bundle, d).get("MEDIACRAFT_RETRY_DELAYS_MS") for d in bundle.deployments.values()}
    assert len(values) == 1 and None not in values, f"services would declare different delay queues: {values}"


def test_broker_consumer_timeout_outlasts_a_job(bundle: Manifests, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = "".join(bundle.config_data("rabbitmq-mediacraft-conf").values())
    timeout_ms = int(re.search(r"^consumer_timeout\s*=\s*(\d+)", conf, re.M).group(1))
    for name in WORKER_POOLS:
        env = resolved_env(bundle, bundle.deployments[name])
        settings = settings_from_env(WorkerSettings, env, monkeypatch)
        held_ms = (settings.job_time_limit_seconds + HAND_BACK_SECONDS) * 1000
        assert timeout_ms > held_ms, f"the broker would reclaim a {name} job still running"


def test_base_secret_holds_only_placeholders(base_bundle: Manifests) -> None:
    values = base_bundle.secret_data(SECRET)
    expected = {"MEDIACRAFT_BUS_URL", STORE_KEY, "MEDIACRAFT_OBJECT_STORE_URL", "MEDIACRAFT_COOKIE_KEYS"}
    assert expected <= set(values)
    real = [k for k, v in values.items() if "REPLACE_ME" not in v.upper().replace("-", "_")]
    assert not real, f"values that look like real secrets in the base: {real}"


# --- scaling, budgets, services ------------------------------------------------------------------


def test_scaled_objects_scale_each_worker_pool_on_its_queue(base_bundle: Manifests) -> None:
    quota_global = int(base_bundle.config_data(CONFIG)["MEDIACRAFT_QUOTA_GLOBAL"])
    targets = {}
    for scaled in base_bundle.of_kind("ScaledObject"):
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        ref = scaled["spec"]["scaleTargetRef"]
        assert ref.get("kind", "Deployment") == "Deployment"
        deployment = base_bundle.deployments.get(ref["name"])
        assert deployment is not None, f"{scaled['metadata']['name']} scales a missing Deployment"
        assert "replicas" not in deployment["spec"], f"{ref['name']}'s replicas would fight the autoscaler"
        assert 1 <= scaled["spec"]["maxReplicaCount"] <= quota_global
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        # Running jobs are unacked messages; only the management API counts them.
        assert trigger["metadata"]["protocol"] == "http"
        assert trigger["metadata"]["mode"] == "QueueLength"
        auth = base_bundle.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
        for target in auth["spec"]["secretTargetRef"]:
            assert target["key"] in base_bundle.secret_data(target["name"])
        targets[ref["name"]] = trigger["metadata"]["queueName"]
    assert targets == {name: job_queue(pool) for name, pool in WORKER_POOLS.items()}
    assert set(targets.values()) == {"jobs.watermark", "jobs.merge"}


def test_hpa_scales_the_gateway_on_cpu(base_bundle: Manifests) -> None:
    (hpa,) = base_bundle.of_kind("HorizontalPodAutoscaler")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", "gateway")
    assert "replicas" not in base_bundle.deployments["gateway"]["spec"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_scheduler_runs_an_active_consumer_and_a_standby(base_bundle: Manifests) -> None:
    assert base_bundle.deployments["scheduler"]["spec"]["replicas"] == 2


def test_deployment_selectors_match_their_pods(bundle: Manifests) -> None:
    for name, deployment in bundle.deployments.items():
        assert selects(deployment["spec"]["selector"], pod_labels(deployment)), name


def test_disruption_budgets_select_real_deployments(bundle: Manifests) -> None:
    covered = set()
    for pdb in bundle.of_kind("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]
        matched = [n for n, d in bundle.deployments.items() if selects(selector, pod_labels(d))]
        assert matched, f"PodDisruptionBudget {pdb['metadata']['name']} selects no Deployment's pods"
        covered.update(matched)
    assert {"gateway", "scheduler", *WORKER_POOLS} <= covered


def test_services_route_to_the_http_port(bundle: Manifests) -> None:
    for service in bundle.of_kind("Service"):
        name = service["metadata"]["name"]
        selector = {"matchLabels": service["spec"]["selector"]}
        matched = [d for d in bundle.deployments.values() if selects(selector, pod_labels(d))]
        assert [d["metadata"]["name"] for d in matched] == [name]
        ports = {p["name"]: p["containerPort"] for p in pod_spec(matched[0])["containers"][0]["ports"]}
        for port in service["spec"]["ports"]:
            assert ports.get(port["targetPort"], port["targetPort"]) == HTTP_PORTS[name]


# --- network policies --------------------------------------------------------------------------


def policies_for(m: Manifests, deployment: dict[str, Any], policy_type: str) -> list[dict[str, Any]]:
    """NetworkPolicies of a type that select a Deployment's pods."""
    return [
        p for p in m.of_kind("NetworkPolicy")
        if policy_type in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod_labels(deployment))
    ]


def ingress_rules(m: Manifests, name: str) -> list[dict[str, Any]]:
    """Every ingress rule that applies to a Deployment's pods."""
    return [r for p in policies_for(m, m.deployments[name], "Ingress") for r in p["spec"].get("ingress", [])]


def allowed_ports(rules: list[dict[str, Any]]) -> set[int] | None:
    """TCP/UDP ports a list of rules opens; None when some rule opens every port."""
    ports: set[int] = set()
    for rule in rules:
        if not rule.get("ports"):
            return None
        for port in rule["ports"]:
            first = port["port"]
            assert isinstance(first, int), "named ports would hide what is allowed"
            ports.update(range(first, port.get("endPort", first) + 1))
    return ports


def test_ingress_is_denied_unless_allowed(bundle: Manifests) -> None:
    deny = [
        p for p in bundle.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
    ]
    assert deny and "Ingress" in deny[0]["spec"]["policyTypes"]
    assert allowed_ports(ingress_rules(bundle, "gateway")) == {HTTP_PORTS["gateway"]}
    for name in ("scheduler", *WORKER_POOLS):
        assert ingress_rules(bundle, name) == [], f"{name} listens to nothing, yet accepts traffic"


def test_identity_accepts_only_the_gateway(bundle: Manifests) -> None:
    rules = ingress_rules(bundle, "identity")
    assert rules
    gateway_labels = pod_labels(bundle.deployments["gateway"])
    for rule in rules:
        assert rule.get("from"), "an ingress rule without `from` admits every pod"
        for peer in rule["from"]:
            assert set(peer) == {"podSelector"} and selects(peer["podSelector"], gateway_labels)
            others = [
                n for n, d in bundle.deployments.items()
                if n != "gateway" and selects(peer["podSelector"], pod_labels(d))
            ]
            assert not others, f"identity also admits {others}"
    assert allowed_ports(rules) == {HTTP_PORTS["identity"]}


def test_workers_reach_the_broker_and_object_store_but_not_mongodb(bundle: Manifests) -> None:
    for name in WORKER_POOLS:
        policies = policies_for(bundle, bundle.deployments[name], "Egress")
        assert policies, f"{name} egress is not restricted at all"
        ports = allowed_ports([r for p in policies for r in p["spec"].get("egress", [])])
        assert ports is not None, f"a policy opens every port to {name}"
        assert MONGODB_PORT not in ports
        assert {53, 5672, 9000, 443} <= ports


# --- the local overlay -------------------------------------------------------------------------


def test_local_overlay_runs_one_small_replica_of_each_without_autoscalers(local: Manifests) -> None:
    base = Manifests(rendered(BASE))
    assert set(local.deployments) == set(SERVICES)
    for kind in ("HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication"):
        assert local.of_kind(kind) == []
    for name, deployment in local.deployments.items():
        assert deployment["spec"]["replicas"] == 1
        container = pod_spec(deployment)["containers"][0]
        assert container["imagePullPolicy"] == "IfNotPresent"
        base_requests = pod_spec(base.deployments[name])["containers"][0]["resources"]["requests"]
        for resource, value in container["resources"]["requests"].items():
            assert quantity(value) <= quantity(base_requests[resource]), f"{name}: more {resource} locally"
    assert all("REPLACE" not in v.upper() for v in local.secret_data(SECRET).values())


# --- the probe script --------------------------------------------------------------------------


def test_bus_probe_passes_only_while_a_broker_connection_is_open(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("the probe reads Linux's /proc/net/tcp")
    script = tmp_path / "bus_connected.py"
    script.write_text(Manifests(raw_base()).config_data("mediacraft-probes")["bus_connected.py"])

    def probe(port: int) -> int:
        env = {**os.environ, "MEDIACRAFT_BUS_URL": f"amqp://user:pw@127.0.0.1:{port}/"}
        return subprocess.run([sys.executable, str(script)], env=env, timeout=30).returncode

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert probe(port) == 1, "a listening socket alone is no broker connection"
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        assert probe(port) == 0
        client.close()
        accepted.close()
        assert probe(port) == 1, "a closed connection still counted"


def test_bus_probe_defaults_to_the_scheme_port(tmp_path: Path) -> None:
    script = tmp_path / "bus_connected.py"
    script.write_text(Manifests(raw_base()).config_data("mediacraft-probes")["bus_connected.py"])
    spec = importlib.util.spec_from_file_location("bus_connected", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.broker_port("amqp://u:p@rabbitmq/") == 5672
    assert module.broker_port("amqps://u:p@rabbitmq/vhost") == 5671
    assert module.broker_port("amqp://u:p@rabbitmq:5673/") == 5673
