"""deploy/k8s as a cluster would see it: references resolve, pods are locked down and sized,
workers cannot reach the task store, autoscalers and budgets point at real Deployments, and the
environment each Deployment (or CronJob) gets is one its service's Settings class accepts.

The checks run on the base as written, on the base with the cleanup-cronjob component applied
by hand, and, when `kubectl` or `kustomize` is on PATH, on the rendered base, the rendered base
with that component and the rendered local overlay too (those cases skip only when neither
binary is there).
"""

from __future__ import annotations

import base64
import functools
import importlib
import importlib.util
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kubernetes_validate
import pytest
import yaml

from mediacraft.cleanup.settings import Settings as CleanupSettings
from mediacraft.shared.published_secrets import PublishedSecretError, is_published
from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.topology import POOLS, job_queue
from mediacraft.shared.worker import status as worker_status
from mediacraft.shared.worker.settings import WorkerSettings
from mediacraft.worker_generate.settings import GenerateSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
# The Secret the base references but does not ship; the operator provides one with these keys.
EXAMPLE_SECRET = K8S / "secret.example.yaml"
LOCAL = K8S / "overlays" / "local"
CLEANUP_CRONJOB = K8S / "components" / "cleanup-cronjob"
MAKE_SECRETS = ROOT / "scripts" / "make-secrets.sh"

NAMESPACE = "mediacraft"
SECRET = "mediacraft-secrets"
CONFIG = "mediacraft-config"
STORE_KEY = "MEDIACRAFT_STORE_URL"
# Secrets the services themselves check: a value the repository publishes is refused.
GUARDED_SECRETS = ("MEDIACRAFT_COOKIE_KEYS", "MEDIACRAFT_IDENTITY_API_TOKEN", "MEDIACRAFT_OPERATOR_TOKEN")
SERVICES = (
    "gateway",
    "identity",
    "scheduler",
    "worker-watermark",
    "worker-merge",
    "worker-generate",
    "cleanup",
)
HTTP_PORTS = {"gateway": 8000, "identity": 8001}
# a Prometheus endpoint and nothing else (every worker pool on the same port, each pod its own)
METRICS_PORTS = {
    "cleanup": 9464,
    "scheduler": 9102,
    "worker-watermark": 9103,
    "worker-merge": 9103,
    "worker-generate": 9103,
}
API_METRICS_PORTS = {"gateway": 9100, "identity": 9101}  # metrics off the API port
SERVICE_PORTS = {**HTTP_PORTS, **METRICS_PORTS}
WORKER_POOLS = {"worker-watermark": "watermark", "worker-merge": "merge", "worker-generate": "generate"}
MONGODB_PORT = 27017
HTTPS_PORT = 443
# Worker shutdown after the grace: up to 60 s for the processing thread to stop, then hand-back.
HAND_BACK_SECONDS = 60
KUBERNETES_VERSION = "1.30"  # the oldest minor still commonly run; schemas only grow after it
# The generation worker's http provider holds a JSON answer about this many times its size at once
# (body, its bytes copy, the parsed base64 text, the decoded file: providers/http.py).
JSON_ANSWER_COPIES = 4
# What a worker process holds before any job (Python, NumPy, OpenCV, the bus and S3 clients).
WORKER_BASELINE_BYTES = 512 * 2**20


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


def deletions(directory: Path) -> set[tuple[str, str]]:
    """(kind, name) of every resource a kustomization's inline `$patch: delete` patches remove."""
    removed = set()
    for patch in kustomization_of(directory).get("patches", []):
        doc = yaml.safe_load(patch.get("patch", "")) or {}
        if isinstance(doc, dict) and doc.get("$patch") == "delete":
            removed.add((doc["kind"], doc["metadata"]["name"]))
    return removed


@functools.cache
def raw_cleanup_cronjob() -> tuple[dict[str, Any], ...]:
    """The base with components/cleanup-cronjob applied by hand: its deletions, then its resources."""
    removed = deletions(CLEANUP_CRONJOB)
    present = {(d["kind"], d["metadata"]["name"]) for d in raw_base()}
    assert removed <= present, f"deletes what the base lacks (kustomize would fail): {removed - present}"
    kept = [d for d in raw_base() if (d["kind"], d["metadata"]["name"]) not in removed]
    added = [doc for path in referenced_paths(CLEANUP_CRONJOB) for doc in load_docs(path)]
    return (*kept, *added)


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


@functools.cache
def rendered_local() -> tuple[dict[str, Any], ...]:
    """The local overlay rendered as a developer renders it: in a copy of the tree where
    scripts/make-secrets.sh has written the overlay's git-ignored secrets.env."""
    if _renderer() is None:
        pytest.skip("neither kubectl nor kustomize is installed: rendered checks need one")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp, "k8s")
        shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets.env"))
        local = tree / LOCAL.relative_to(K8S)
        made = subprocess.run(
            [str(MAKE_SECRETS), "--env-file", str(Path(tmp, ".env")), "--k8s-file", str(local / "secrets.env")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        return _render(local)


@functools.cache
def rendered_cleanup_cronjob() -> tuple[dict[str, Any], ...]:
    """The base rendered with components/cleanup-cronjob, through an overlay like an operator's."""
    if _renderer() is None:
        pytest.skip("neither kubectl nor kustomize is installed: rendered checks need one")
    with tempfile.TemporaryDirectory() as tmp:
        # kustomize refuses absolute paths to a base or a component
        overlay = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(BASE, tmp)],
            "components": [os.path.relpath(CLEANUP_CRONJOB, tmp)],
        }
        Path(tmp, "kustomization.yaml").write_text(yaml.safe_dump(overlay))
        return _render(Path(tmp))


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

    @property
    def workloads(self) -> dict[str, dict[str, Any]]:
        """Deployments and CronJobs by name: everything that runs pods."""
        found = self.of_kind("Deployment") + self.of_kind("CronJob")
        names = [d["metadata"]["name"] for d in found]
        assert len(names) == len(set(names)), f"a Deployment and a CronJob share a name: {sorted(names)}"
        return dict(zip(names, found, strict=True))

    def config_data(self, name: str) -> dict[str, str]:
        """A ConfigMap's data."""
        return dict(self.get("ConfigMap", name).get("data", {}))

    def secret_data(self, name: str) -> dict[str, str]:
        """A Secret's values, from stringData (as written here) or base64 data."""
        secret = self.get("Secret", name)
        values = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
        values.update(secret.get("stringData", {}))
        return values


def with_operator_secret(docs: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """The base's resources beside the Secret an operator creates in the namespace (the example's keys)."""
    return (*docs, *load_docs(EXAMPLE_SECRET))


BUNDLES: dict[str, Callable[[], tuple[dict[str, Any], ...]]] = {
    "base": lambda: with_operator_secret(raw_base()),
    "base-rendered": lambda: with_operator_secret(rendered(BASE)),
    "local-rendered": rendered_local,
    "cleanup-cronjob": lambda: with_operator_secret(raw_cleanup_cronjob()),
    "cleanup-cronjob-rendered": lambda: with_operator_secret(rendered_cleanup_cronjob()),
}
BASE_BUNDLES = ("base", "base-rendered")
CRONJOB_BUNDLES = ("cleanup-cronjob", "cleanup-cronjob-rendered")


@pytest.fixture(params=list(BUNDLES))
def bundle(request: pytest.FixtureRequest) -> Manifests:
    return Manifests(BUNDLES[request.param]())


@pytest.fixture(params=BASE_BUNDLES)
def base_bundle(request: pytest.FixtureRequest) -> Manifests:
    return Manifests(BUNDLES[request.param]())


@pytest.fixture(params=CRONJOB_BUNDLES)
def cronjob_bundle(request: pytest.FixtureRequest) -> Manifests:
    return Manifests(BUNDLES[request.param]())


@pytest.fixture
def local() -> Manifests:
    return Manifests(rendered_local())


# --- helpers -----------------------------------------------------------------------------------


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a Deployment or a CronJob."""
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]
    return workload["spec"]["template"]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return pod_template(workload)["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return pod_template(workload)["metadata"]["labels"]


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
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
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
            _set_from(env, var["name"], m.secret_data(ref["name"]), ref)
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            _set_from(env, var["name"], m.config_data(ref["name"]), ref)
    return env


def _set_from(env: dict[str, str], name: str, data: dict[str, str], ref: dict[str, Any]) -> None:
    # An optional key that is absent leaves the variable unset, as the kubelet does; any other
    # missing key fails here as the pod would fail to start.
    if ref["key"] in data:
        env[name] = data[ref["key"]]
    else:
        assert ref.get("optional") is True, f"{name}: no key {ref['key']} in the Secret or ConfigMap"


def settings_class(service: str) -> tuple[type[BaseServiceSettings], bool]:
    """The Settings class a service builds, and whether it is the service's own (not the base)."""
    name = f"mediacraft.{service.replace('-', '_')}.settings"
    if importlib.util.find_spec(name) is None:
        if service in WORKER_POOLS:
            return WorkerSettings, True  # the shared worker runtime's settings are all it reads
        return BaseServiceSettings, False  # the service has not declared its own settings yet
    module = importlib.import_module(name)
    (cls,) = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, BaseServiceSettings) and c.__module__ == name
    ]
    return cls, True


SettingsT = TypeVar("SettingsT", bound=BaseServiceSettings)


def env_field(name: str) -> str:
    return name.removeprefix("MEDIACRAFT_").lower()


def settings_from_env(cls: type[SettingsT], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> SettingsT:
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
    mounts = [Path(m["mountPath"]) for m in spec["containers"][0].get("volumeMounts", []) if m["name"] in scratch]
    paths = [settings.data_dir, getattr(settings, "work_dir", None), getattr(settings, "cache_path", None)]
    return [
        str(p)
        for p in paths
        if p is not None and not any(Path(p).is_absolute() and Path(p).is_relative_to(m) for m in mounts)
    ]


# --- the tree ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.yaml")), ids=lambda p: str(p.relative_to(K8S)))
def test_every_yaml_document_is_a_typed_object(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path} holds no document"
    for doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), f"{path}: {doc!r:.80}"
        if doc["kind"] not in ("Kustomization", "Component"):
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


@pytest.mark.parametrize(
    "directory",
    sorted(p.parent for p in K8S.rglob("kustomization.yaml")),
    ids=lambda p: str(p.relative_to(K8S)),
)
def test_every_file_is_listed_in_its_kustomization(directory: Path) -> None:
    listed = {p.resolve() for p in referenced_paths(directory)}
    on_disk = {p.resolve() for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert on_disk - listed == set(), f"files in {directory.name}/ that kustomize would silently leave out"


def scripts_of(service: str) -> dict[str, str]:
    """The console scripts a service's distribution installs."""
    pyproject = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    return pyproject["project"].get("scripts", {})


def test_every_image_runs_its_service_command() -> None:
    # deploy/docker/Dockerfile starts `mediacraft-${SERVICE}`; the CronJob names its command.
    for name in SERVICES:
        assert f"mediacraft-{name}" in scripts_of(name), f"the {name} image would not start"


def test_base_has_the_namespace_and_one_deployment_per_service() -> None:
    m = Manifests(raw_base())
    assert kustomization_of(BASE)["namespace"] == NAMESPACE
    assert m.find("Namespace", NAMESPACE) is not None
    assert set(m.deployments) == set(SERVICES)
    retaggable = {image["name"] for image in kustomization_of(BASE)["images"]}
    for name, workload in {**m.deployments, **Manifests(raw_cleanup_cronjob()).workloads}.items():
        image = pod_spec(workload)["containers"][0]["image"]
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
    for name, workload in bundle.workloads.items():
        for c in containers(workload):
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
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        assert ports == {"metrics": METRICS_PORTS[name]}, f"{name} serves its metrics and nothing else"
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
    for name, workload in bundle.workloads.items():
        spec = pod_spec(workload)
        pod_sc = spec.get("securityContext", {})
        if not (pod_sc.get("runAsNonRoot") is True and pod_sc.get("runAsUser") == 10001):
            problems.append(f"{name}: not pinned to the image's non-root uid 10001")
        if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a Kubernetes API token it never uses")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(workload):
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
        settings = settings_from_env(settings_class(name)[0], env, monkeypatch)
        assert isinstance(settings, WorkerSettings), f"{name} does not read the worker runtime's settings"
        needed = settings.shutdown_grace_seconds + HAND_BACK_SECONDS
        assert spec["terminationGracePeriodSeconds"] >= needed, f"{name} is killed before handing back a job"
        # the volume's limit, which its file system's free space does not show, is what the
        # worker counts its scratch space against before it takes a job
        assert settings.scratch_limit_bytes == quantity(work["emptyDir"]["sizeLimit"]), f"{name}: scratch limit"


def test_worker_readiness_reads_a_status_file_the_worker_can_write(bundle: Manifests) -> None:
    for name in WORKER_POOLS:
        deployment = bundle.deployments[name]
        spec = pod_spec(deployment)
        container = spec["containers"][0]
        assert container["readinessProbe"]["exec"]["command"] == ["python", "/probes/worker_ready.py"]
        assert "livenessProbe" not in container, f"{name}: readiness only; a short disk is no reason to restart"
        status_file = Path(resolved_env(bundle, deployment)["MEDIACRAFT_STATUS_FILE"])
        mount = next(m for m in container["volumeMounts"] if status_file.is_relative_to(m["mountPath"]))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        assert "emptyDir" in volume and not mount.get("readOnly"), f"{name} cannot write {status_file}"
    scheduler = pod_spec(bundle.deployments["scheduler"])["containers"][0]
    assert scheduler["readinessProbe"]["exec"]["command"] == ["python", "/probes/bus_connected.py"]


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
    for workload in bundle.workloads.values():
        resolved_env(bundle, workload)  # raises on a missing Secret, ConfigMap or required key
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                bundle.get("ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                bundle.get("Secret", volume["secret"]["secretName"])


# --- configuration -----------------------------------------------------------------------------


def test_each_service_accepts_the_environment_its_deployment_gives_it(
    bundle: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, workload in bundle.workloads.items():
        cls, own = settings_class(name)
        env = resolved_env(bundle, workload)
        placeholders = [k for k in GUARDED_SECRETS if env_field(k) in cls.model_fields and is_published(env.get(k, ""))]
        if placeholders:  # the base's placeholders: refused by name, and real values are needed
            with pytest.raises(PublishedSecretError, match=placeholders[0]):
                settings_from_env(cls, env, monkeypatch)
            env = {**env, **{k: secrets.token_hex(32) for k in placeholders}}
        settings = settings_from_env(cls, env, monkeypatch)  # raises when a value does not parse
        assert settings.bus_url == env["MEDIACRAFT_BUS_URL"]
        assert settings.retry_delays_ms == (60_000, 300_000, 900_000)
        if name in HTTP_PORTS and own:
            fields = settings.model_dump()  # the service's own class, chosen at run time
            assert (fields["http_host"], fields["http_port"]) == ("0.0.0.0", HTTP_PORTS[name]), (
                f"{name} would not listen where its probes and Service connect"
            )
        assert not unwritable_paths(workload, settings), f"{name} would write to its read-only root"
        if own:
            container = pod_spec(workload)["containers"][0]
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
    values = {resolved_env(bundle, d).get("MEDIACRAFT_RETRY_DELAYS_MS") for d in bundle.workloads.values()}
    assert len(values) == 1 and None not in values, f"services would declare different delay queues: {values}"


def test_broker_consumer_timeout_outlasts_a_job(bundle: Manifests, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = "".join(bundle.config_data("rabbitmq-mediacraft-conf").values())
    found = re.search(r"^consumer_timeout\s*=\s*(\d+)", conf, re.M)
    assert found is not None, "rabbitmq.conf sets no consumer_timeout"
    timeout_ms = int(found.group(1))
    for name in WORKER_POOLS:
        env = resolved_env(bundle, bundle.deployments[name])
        settings = settings_from_env(settings_class(name)[0], env, monkeypatch)
        assert isinstance(settings, WorkerSettings), f"{name} does not read the worker runtime's settings"
        held_ms = (settings.job_time_limit_seconds + HAND_BACK_SECONDS) * 1000
        assert timeout_ms > held_ms, f"the broker would reclaim a {name} job still running"


def test_the_base_ships_no_secret_so_an_apply_never_overwrites_the_real_one() -> None:
    assert [d for d in raw_base() if d["kind"] == "Secret"] == []
    if _renderer() is not None:
        assert [d for d in rendered(BASE) if d["kind"] == "Secret"] == []
        assert [d for d in rendered_cleanup_cronjob() if d["kind"] == "Secret"] == []


def test_the_example_secret_holds_only_placeholders_for_every_key_the_workloads_read() -> None:
    (secret,) = load_docs(EXAMPLE_SECRET)
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", SECRET)
    values = secret["stringData"]
    real = [k for k, v in values.items() if "REPLACE_ME" not in v.upper().replace("-", "_")]
    assert not real, f"values that look like real secrets in the example: {real}"
    required: set[str] = set()
    optional: set[str] = set()
    for workload in Manifests(raw_base()).workloads.values():
        for c in containers(workload):
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("name") == SECRET:
                    (optional if ref.get("optional") else required).add(ref["key"])
    for auth in Manifests(raw_base()).of_kind("TriggerAuthentication"):
        required |= {t["key"] for t in auth["spec"]["secretTargetRef"] if t["name"] == SECRET}
    assert required <= set(values), f"keys the base needs that the example lacks: {required - set(values)}"
    assert set(values) <= required | optional, f"keys nothing reads: {set(values) - required - optional}"


def test_the_local_overlay_creates_its_own_secret(local: Manifests) -> None:
    generator = kustomization_of(LOCAL)["secretGenerator"]
    assert [(g["name"], g["behavior"]) for g in generator] == [(SECRET, "create")]
    assert set(load_docs(EXAMPLE_SECRET)[0]["stringData"]) <= set(local.secret_data(SECRET)) | {
        "MEDIACRAFT_GENERATE_HTTP_API_KEY"
    }


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
    dispatched = {job_queue(pool) for pool in POOLS}
    assert set(targets.values()) == dispatched, "a pool the scheduler dispatches to has no workers"


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


def test_services_route_to_the_serving_port(bundle: Manifests) -> None:
    for service in bundle.of_kind("Service"):
        name = service["metadata"]["name"]
        selector = {"matchLabels": service["spec"]["selector"]}
        matched = [d for d in bundle.deployments.values() if selects(selector, pod_labels(d))]
        assert [d["metadata"]["name"] for d in matched] == [name]
        ports = {p["name"]: p["containerPort"] for p in pod_spec(matched[0])["containers"][0]["ports"]}
        for port in service["spec"]["ports"]:
            wanted = (
                API_METRICS_PORTS[name]
                if port["name"] == "metrics" and name in API_METRICS_PORTS
                else SERVICE_PORTS[name]
            )
            assert ports.get(port["targetPort"], port["targetPort"]) == wanted


# --- network policies --------------------------------------------------------------------------


def policies_for(m: Manifests, deployment: dict[str, Any], policy_type: str) -> list[dict[str, Any]]:
    """NetworkPolicies of a type that select a Deployment's pods."""
    return [
        p
        for p in m.of_kind("NetworkPolicy")
        if policy_type in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod_labels(deployment))
    ]


def ingress_rules(m: Manifests, name: str) -> list[dict[str, Any]]:
    """Every ingress rule that applies to a workload's pods."""
    return [r for p in policies_for(m, m.workloads[name], "Ingress") for r in p["spec"].get("ingress", [])]


def egress_ports(m: Manifests, name: str) -> set[int] | None:
    """Ports a workload's pods may connect to; fails when no policy restricts them at all."""
    policies = policies_for(m, m.workloads[name], "Egress")
    assert policies, f"{name} egress is not restricted at all"
    return allowed_ports([r for p in policies for r in p["spec"].get("egress", [])])


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
        p for p in bundle.of_kind("NetworkPolicy") if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
    ]
    assert deny and "Ingress" in deny[0]["spec"]["policyTypes"]
    assert allowed_ports(ingress_rules(bundle, "gateway")) == {HTTP_PORTS["gateway"], API_METRICS_PORTS["gateway"]}
    for name in ("scheduler", *WORKER_POOLS):
        # its metrics port alone, to Prometheus wherever that runs
        assert allowed_ports(ingress_rules(bundle, name)) == {METRICS_PORTS[name]}, f"{name} accepts more"


def test_identity_accepts_only_the_gateway(bundle: Manifests) -> None:
    every = ingress_rules(bundle, "identity")
    # its metrics port alone is open to Prometheus, wherever that runs
    metrics = [r for r in every if allowed_ports([r]) == {API_METRICS_PORTS["identity"]}]
    assert len(metrics) == 1
    rules = [r for r in every if r not in metrics]
    assert rules
    gateway_labels = pod_labels(bundle.deployments["gateway"])
    for rule in rules:
        assert rule.get("from"), "an ingress rule without `from` admits every pod"
        for peer in rule["from"]:
            assert set(peer) == {"podSelector"} and selects(peer["podSelector"], gateway_labels)
            others = [
                n
                for n, d in bundle.deployments.items()
                if n != "gateway" and selects(peer["podSelector"], pod_labels(d))
            ]
            assert not others, f"identity also admits {others}"
    assert allowed_ports(rules) == {HTTP_PORTS["identity"]}


def test_workers_reach_the_broker_and_object_store_but_not_mongodb(bundle: Manifests) -> None:
    for name in WORKER_POOLS:
        ports = egress_ports(bundle, name)
        assert ports is not None, f"a policy opens every port to {name}"
        assert MONGODB_PORT not in ports
        assert {53, 5672, 9000, 443} <= ports


def test_generate_worker_reaches_an_https_backend_through_its_own_rule(bundle: Manifests) -> None:
    generate = bundle.deployments["worker-generate"]
    others = [d for n, d in bundle.deployments.items() if n != "worker-generate"]
    own = [
        p
        for p in policies_for(bundle, generate, "Egress")
        if not any(selects(p["spec"]["podSelector"], pod_labels(d)) for d in others)
    ]
    # Its own policy: narrowing the shared workers' 443 to the object store must not cut it off,
    # and no other worker gets the backend's reach.
    assert own, "no egress policy of worker-generate's own"
    ports = allowed_ports([r for p in own for r in p["spec"].get("egress", [])])
    assert ports is not None and HTTPS_PORT in ports and MONGODB_PORT not in ports


# --- the generation worker ---------------------------------------------------------------------


def test_generate_worker_answer_cap_fits_its_memory_limit(bundle: Manifests, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = bundle.deployments["worker-generate"]
    settings = settings_from_env(GenerateSettings, resolved_env(bundle, deployment), monkeypatch)
    limit = quantity(pod_spec(deployment)["containers"][0]["resources"]["limits"]["memory"])
    peak = JSON_ANSWER_COPIES * settings.generate_http_max_response_bytes + WORKER_BASELINE_BYTES
    assert peak <= limit, f"a maximal JSON answer ({peak / 2**30:.2f} GiB) would get the pod OOM-killed"


def test_generate_worker_switches_to_an_http_backend_with_an_endpoint_only(
    base_bundle: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = GenerateSettings
    env = resolved_env(base_bundle, base_bundle.deployments["worker-generate"])
    assert settings_from_env(cls, env, monkeypatch).generate_provider == "local"
    assert "MEDIACRAFT_GENERATE_HTTP_API_KEY" not in env, "the optional key should not be in the base Secret"
    # What README's overlay patch sets: provider http and the endpoint (the key stays optional).
    http = {
        **env,
        "MEDIACRAFT_GENERATE_PROVIDER": "http",
        "MEDIACRAFT_GENERATE_HTTP_ENDPOINT": "https://gen.example/v1",
    }
    assert settings_from_env(cls, http, monkeypatch).generate_http_endpoint == "https://gen.example/v1"
    with pytest.raises(ValueError, match="ENDPOINT is required"):
        settings_from_env(cls, {**env, "MEDIACRAFT_GENERATE_PROVIDER": "http"}, monkeypatch)


# --- cleanup -----------------------------------------------------------------------------------


def test_cleanup_gets_the_store_object_store_and_bus(bundle: Manifests, monkeypatch: pytest.MonkeyPatch) -> None:
    workload = bundle.workloads["cleanup"]
    env = resolved_env(bundle, workload)
    secret = bundle.secret_data(SECRET)
    for key in (STORE_KEY, "MEDIACRAFT_OBJECT_STORE_URL", "MEDIACRAFT_BUS_URL"):
        assert env.get(key) == secret[key], f"cleanup does not get {key} from {SECRET}"
    cls, own = settings_class("cleanup")
    assert own
    settings = settings_from_env(cls, env, monkeypatch)
    assert settings.store_url == secret[STORE_KEY]
    assert settings.object_store_url == secret["MEDIACRAFT_OBJECT_STORE_URL"]


def test_cleanup_reaches_mongodb_the_broker_and_the_object_store_only(bundle: Manifests) -> None:
    ports = egress_ports(bundle, "cleanup")
    assert ports is not None, "a policy opens every port to cleanup"
    assert ports == {53, MONGODB_PORT, 5672, 5671, 9000, HTTPS_PORT}


def test_cleanup_runs_as_one_deployment_replica_in_the_base(base_bundle: Manifests) -> None:
    assert base_bundle.find("CronJob", "cleanup") is None, "both modes would run passes"
    assert base_bundle.deployments["cleanup"]["spec"]["replicas"] == 1


def test_cleanup_serves_metrics_where_it_is_probed_scraped_and_let_in(
    base_bundle: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = base_bundle.deployments["cleanup"]
    container = pod_spec(deployment)["containers"][0]
    settings = settings_from_env(CleanupSettings, resolved_env(base_bundle, deployment), monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.cleanup_metrics_port == ports["metrics"] == METRICS_PORTS["cleanup"]
    assert settings.cleanup_metrics_host == "0.0.0.0", "the kubelet and Prometheus could not connect"
    probe = container["readinessProbe"]["httpGet"]
    assert ports.get(probe["port"], probe["port"]) == settings.cleanup_metrics_port
    assert "livenessProbe" not in container, "the metrics thread answers even with the loop wedged"
    assert base_bundle.find("Service", "cleanup") is not None
    assert allowed_ports(ingress_rules(base_bundle, "cleanup")) == {METRICS_PORTS["cleanup"]}


def test_scheduler_and_workers_serve_metrics_where_they_are_scraped_and_let_in(
    base_bundle: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("scheduler", *WORKER_POOLS):
        deployment = base_bundle.deployments[name]
        container = pod_spec(deployment)["containers"][0]
        cls, _ = settings_class(name)
        fields = settings_from_env(cls, resolved_env(base_bundle, deployment), monkeypatch).model_dump()
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert fields["metrics_port"] == ports["metrics"] == METRICS_PORTS[name], name
        assert fields["metrics_host"] == "0.0.0.0", f"Prometheus could not reach {name}"
        service = base_bundle.find("Service", name)
        assert service is not None and [p["name"] for p in service["spec"]["ports"]] == ["metrics"]


def test_cleanup_cronjob_replaces_the_deployment(cronjob_bundle: Manifests) -> None:
    assert "cleanup" not in cronjob_bundle.deployments, "both modes would run passes"
    assert cronjob_bundle.find("Service", "cleanup") is None
    assert ingress_rules(cronjob_bundle, "cleanup") == [], "a one-shot pass listens to nothing"
    # Everything else of the base is still there.
    assert set(cronjob_bundle.deployments) == set(SERVICES) - {"cleanup"}


def test_cleanup_cronjob_runs_one_pass_per_run_and_never_two_at_once(
    cronjob_bundle: Manifests, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediacraft.cleanup.main import parse_args

    cronjob = cronjob_bundle.get("CronJob", "cleanup")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    container = pod_spec(cronjob)["containers"][0]
    command = [*container.get("command", []), *container.get("args", [])]
    entry = scripts_of("cleanup").get(command[0])
    assert entry == "mediacraft.cleanup.main:main", f"the image has no command {command[0]}"
    args = parse_args(command[1:])
    assert args.once and not args.dry_run, "the scheduled run must be one real pass"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert pod_spec(cronjob)["restartPolicy"] == "Never"
    assert "ports" not in container and "readinessProbe" not in container
    # Hourly, and a run is stopped before the next is due, or Forbid would skip runs behind it.
    assert re.fullmatch(r"[0-5]?[0-9] \* \* \* \*", cronjob["spec"]["schedule"])
    assert 0 < job["activeDeadlineSeconds"] < 3600
    settings = settings_from_env(CleanupSettings, resolved_env(cronjob_bundle, cronjob), monkeypatch)
    assert settings.store_url == cronjob_bundle.secret_data(SECRET)[STORE_KEY]
    assert not settings.cleanup_dry_run


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
    assert not any(is_published(v) for v in local.secret_data(SECRET).values())


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


def test_worker_probe_passes_only_while_connected_and_taking_jobs(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("the probe reads Linux's /proc/net/tcp")
    scripts = Manifests(raw_base()).config_data("mediacraft-probes")
    for script in ("bus_connected.py", "worker_ready.py"):  # side by side, as in /probes
        (tmp_path / script).write_text(scripts[script])
    status_file = tmp_path / "work" / "worker-status.json"

    def probe(port: int, status: Path | None = status_file) -> tuple[int, str]:
        env = {**os.environ, "MEDIACRAFT_BUS_URL": f"amqp://user:pw@127.0.0.1:{port}/"}
        env.pop("MEDIACRAFT_STATUS_FILE", None)
        if status is not None:
            env["MEDIACRAFT_STATUS_FILE"] = str(status)
        done = subprocess.run(
            [sys.executable, str(tmp_path / "worker_ready.py")], env=env, timeout=30, capture_output=True, text=True
        )
        return done.returncode, done.stdout

    def worker(taking: bool, free: int) -> dict[str, Any]:
        return {"pool": "merge", "taking_jobs": taking, "scratch_free_bytes": free, "scratch_needed_bytes": 7000}

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        try:
            code, out = probe(port)
            assert code == 1 and "no status" in out, "a worker that has written nothing yet is ready"
            # written as the worker runtime writes it
            worker_status.write(status_file, "merge-0", worker(True, 9000))
            assert probe(port) == (0, "")
            assert probe(port, status=None) == (1, "MEDIACRAFT_STATUS_FILE is not set\n")
            worker_status.write(status_file, "merge-0", worker(False, 5000))
            code, out = probe(port)
            assert code == 1 and "merge-0: free 5000 of 7000 bytes needed" in out
            status_file.write_text("{not json")
            assert probe(port)[0] == 1
            worker_status.write(status_file, "merge-0", worker(True, 9000))
        finally:
            client.close()
            accepted.close()
        assert probe(port) == (1, "no connection to the broker\n"), "taking jobs without a broker connection"


def test_bus_probe_defaults_to_the_scheme_port(tmp_path: Path) -> None:
    script = tmp_path / "bus_connected.py"
    script.write_text(Manifests(raw_base()).config_data("mediacraft-probes")["bus_connected.py"])
    spec = importlib.util.spec_from_file_location("bus_connected", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.broker_port("amqp://u:p@rabbitmq/") == 5672
    assert module.broker_port("amqps://u:p@rabbitmq/vhost") == 5671
    assert module.broker_port("amqp://u:p@rabbitmq:5673/") == 5673
