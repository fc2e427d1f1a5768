"""The MongoDB backup component: a valid CronJob under the namespace's restricted Pod Security,
on the store URL from the Secret, with the same mongo release as compose, renderable with the base."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.unit.test_k8s_manifests import BASE, EXAMPLE_SECRET, K8S, KUBERNETES_VERSION, ROOT, load_docs

COMPONENT = K8S / "components" / "mongo-backup"


def docs() -> list[dict[str, Any]]:
    return load_docs(COMPONENT / "cronjob.yaml")


def test_the_backup_objects_are_valid_and_run_under_restricted_pod_security() -> None:
    found = {d["kind"]: d for d in docs()}
    assert set(found) == {"CronJob", "PersistentVolumeClaim"}
    for doc in found.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    cronjob = found["CronJob"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert (
        pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"], "writes go to the backups volume and /tmp only"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/backups", "/tmp"} <= mounts
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [found["PersistentVolumeClaim"]["metadata"]["name"]]
    (ref,) = [e["valueFrom"]["secretKeyRef"] for e in container["env"]]
    assert ref["key"] == "MEDIACRAFT_STORE_URL" and ref["key"] in load_docs(EXAMPLE_SECRET)[0]["stringData"]
    script = container["args"][0]
    assert 'mongodump --uri "$MEDIACRAFT_STORE_URL"' in script and "--archive=" in script


def test_the_backup_uses_the_mongo_release_compose_pins() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    (container,) = docs()[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == compose["services"]["mongo"]["image"]


def test_the_component_renders_with_the_base() -> None:
    renderer = shutil.which("kubectl")
    if renderer is None:
        pytest.skip("kubectl is not installed: the rendered check needs it")
    with tempfile.TemporaryDirectory() as tmp:
        overlay = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(BASE, tmp)],
            "components": [os.path.relpath(COMPONENT, tmp)],
        }
        Path(tmp, "kustomization.yaml").write_text(yaml.safe_dump(overlay))
        done = subprocess.run([renderer, "kustomize", tmp], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in rendered}
    assert {("CronJob", "mongo-backup"), ("PersistentVolumeClaim", "mediacraft-backups")} <= names
    assert all(d["metadata"].get("namespace") == "mediacraft" for d in rendered if d["kind"] != "Namespace")
