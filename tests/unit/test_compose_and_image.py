"""The Compose file, the image recipe and the manifests agree with the code they run: checked here
without Docker (scripts/compose-smoke.sh runs the real thing where Docker exists)."""

from __future__ import annotations

import re
import secrets
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_k8s_manifests import (
    API_METRICS_PORTS,
    HTTP_PORTS,
    SERVICES,
    env_field,
    settings_class,
    settings_from_env,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONSTRAINTS = ROOT / "constraints.txt"
KUSTOMIZATION = ROOT / "deploy" / "k8s" / "base" / "kustomization.yaml"
SMOKE = ROOT / "scripts" / "compose-smoke.sh"
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")  # ${VAR:?message}: compose refuses to start without it
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")  # ${VAR:-default}
MEDIA_USE = re.compile(r"mediacraft\.shared\.media|run_ffmpeg|probe_media")


def version() -> str:
    return str(tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]["version"])


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # resolves the `<<: *service` merges
    return data


def ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def resolved(value: str) -> str:
    """A compose value as it runs: required variables get fresh random values, defaults apply."""
    value = REQUIRED.sub(lambda _: secrets.token_hex(24), value)
    return DEFAULTED.sub(lambda m: m.group(2), value)


def test_every_service_is_built_from_its_own_directory_and_tagged_with_the_version(compose: dict[str, Any]) -> None:
    services = ours(compose)
    assert set(services) == set(SERVICES)
    for name, svc in services.items():
        assert svc["build"]["args"]["SERVICE"] == name
        assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert (ROOT / "services" / name / "pyproject.toml").exists()
        assert resolved(svc["image"]) == f"mediacraft/{name}:{version()}"
    tags = {image["name"]: image["newTag"] for image in yaml.safe_load(KUSTOMIZATION.read_text())["images"]}
    assert tags == {f"mediacraft/{name}": version() for name in SERVICES}, "the manifests run other images"


def test_backing_services_run_pinned_releases(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if "build" in svc:
            continue
        _, _, tag = svc["image"].partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+\.\d+|RELEASE\.\d{4}-", tag), (
            f"{name} runs {svc['image']}: a tag that moves"
        )


def test_each_service_accepts_the_environment_compose_gives_it(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, svc in ours(compose).items():
        env = {k: resolved(str(v)) for k, v in svc["environment"].items() if v != ""}
        cls, _ = settings_class(name)
        unknown = [k for k in env if k.startswith("MEDIACRAFT_") and env_field(k) not in cls.model_fields]
        assert not unknown, f"{name} is given variables its Settings ignore: {unknown}"
        settings = settings_from_env(cls, env, monkeypatch)  # parses, and refuses a published secret
        fields = settings.model_dump()
        if name in HTTP_PORTS:
            assert (fields["http_host"], fields["http_port"]) == ("0.0.0.0", HTTP_PORTS[name]), (
                f"{name} would not be reachable from other containers or the published port"
            )
            health = " ".join(svc["healthcheck"]["test"])
            assert f":{HTTP_PORTS[name]}/" in health
        if name in API_METRICS_PORTS:
            assert fields["metrics_host"] == "0.0.0.0" and fields["metrics_port"] == API_METRICS_PORTS[name]


def test_published_ports_and_urls_reach_what_listens(compose: dict[str, Any]) -> None:
    gateway = ours(compose)["gateway"]
    published = {p.rsplit(":", 1)[-1]: p for p in gateway["ports"]}
    assert published[str(HTTP_PORTS["gateway"])] == f"{HTTP_PORTS['gateway']}:{HTTP_PORTS['gateway']}"
    metrics = published[str(API_METRICS_PORTS["gateway"])]
    assert metrics.startswith("127.0.0.1:"), "operator metrics are published on the host's loopback only"
    assert gateway["environment"]["MEDIACRAFT_IDENTITY_URL"] == f"http://identity:{HTTP_PORTS['identity']}"
    for svc in ours(compose).values():
        env = svc["environment"]
        for key in ("MEDIACRAFT_BUS_URL", "MEDIACRAFT_OBJECT_STORE_URL", "MEDIACRAFT_STORE_URL"):
            host = re.sub(r"^\w+://([^@/]*@)?([^:/]+).*$", r"\2", resolved(str(env.get(key) or "none://none")))
            assert host in compose["services"] or host == "none", f"{key} names {host}, no service of compose"


def test_no_secret_is_written_in_compose(compose: dict[str, Any]) -> None:
    for svc in compose["services"].values():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASS|KEY|TOKEN|SECRET", key) or "://" in str(value):
                text = str(value)
                if "@" in text or re.search(r"PASS|KEY|TOKEN|SECRET", key):
                    from_env = REQUIRED.search(text) or re.fullmatch(
                        r"\$\{\w+_TOKEN:-\}", text
                    )  # optional: empty is off
                    assert from_env, f"{key} carries a value compose does not take from .env"


def uses_media_tools(service: str) -> bool:
    if service == "standalone":
        return True  # it runs the gateway and every worker in its one process
    return any(MEDIA_USE.search(p.read_text()) for p in (ROOT / "services" / service / "src").rglob("*.py"))


def test_ffmpeg_is_in_exactly_the_images_whose_code_runs_it() -> None:
    recipe = DOCKERFILE.read_text()
    case = re.search(r'case "\$\{SERVICE\}" in\s*\\\s*\n\s*([\w|-]+)\)', recipe)
    assert case, "the Dockerfile no longer chooses ffmpeg by service"
    with_ffmpeg = set(case.group(1).split("|"))
    services = [p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists()]
    assert with_ffmpeg == {s for s in services if uses_media_tools(s)}


def test_the_image_is_built_in_stages_from_pinned_versions_as_a_non_root_user() -> None:
    recipe = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", recipe, re.M)
    assert [stage for _, stage in stages] == ["build", "runtime"]
    assert "-c /src/constraints.txt" in recipe
    assert re.search(r"^COPY --from=build /opt/mediacraft /opt/mediacraft$", recipe, re.M)
    assert re.search(r"^USER 10001$", recipe, re.M)
    assert "apt-get" not in recipe.split("AS runtime", 1)[0], "build tools stay out of the runtime stage"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", recipe, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1))
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile, "CI and the images install the same versions"
    lines = [row for row in CONSTRAINTS.read_text().splitlines() if row and not row.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+!-]+", row) for row in lines), lines
    assert not any(row.lower().startswith("mediacraft") for row in lines)


def test_the_build_context_is_only_the_code() -> None:
    rules = [r for r in DOCKERIGNORE.read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "*", "everything is left out unless let in"
    assert {r for r in rules if r.startswith("!")} == {"!shared/", "!services/", "!constraints.txt"}
    copied = re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(), re.M)
    assert {c.split("/")[0].rstrip("$") for c in copied} <= {"shared", "services", "constraints.txt"}


def test_the_smoke_script_is_valid_shell() -> None:
    subprocess.run(["bash", "-n", str(SMOKE)], check=True, timeout=10)
    assert SMOKE.stat().st_mode & 0o111, "scripts/compose-smoke.sh is executable"
