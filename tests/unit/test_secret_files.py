"""Where docker compose and the local Kubernetes overlay get their secrets: scripts/make-secrets.sh
writes random values into files git ignores (.env for compose, the overlay's secrets.env for its
secretGenerator), with mode 0600, keeps them on a second run, and gives every variable that
docker-compose.yml requires. Checked statically: no Docker engine or cluster needed."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import yaml

from mediacraft.shared.published_secrets import is_published

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make-secrets.sh"
COMPOSE = ROOT / "docker-compose.yml"
LOCAL = ROOT / "deploy" / "k8s" / "overlays" / "local"
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")
OPTIONAL = re.compile(r"\$\{(\w+_TOKEN):-\}")  # a secret that may be empty (a feature off)
K8S_KEYS = {
    "MEDIACRAFT_BUS_URL",
    "MEDIACRAFT_STORE_URL",
    "MEDIACRAFT_OBJECT_STORE_URL",
    "MEDIACRAFT_COOKIE_KEYS",
    "MEDIACRAFT_IDENTITY_API_TOKEN",
    "MEDIACRAFT_OPERATOR_TOKEN",
    "RABBITMQ_MANAGEMENT_URL",
}


def make_secrets(tmp_path: Path, *args: str) -> tuple[Path, Path]:
    env_file, k8s_file = tmp_path / ".env", tmp_path / "local" / "secrets.env"
    done = subprocess.run(
        [str(SCRIPT), "--env-file", str(env_file), "--k8s-file", str(k8s_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return env_file, k8s_file


def read_env(source: Path | str) -> dict[str, str]:
    """NAME=value lines of an env file (or its text), comments left out."""
    text = source.read_text() if isinstance(source, Path) else source
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {name: value for name, _, value in (line.partition("=") for line in lines)}


def git_ignores(path: Path) -> bool:
    done = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, capture_output=True, timeout=30)
    return done.returncode == 0


def test_the_script_writes_private_random_values_for_every_variable_compose_requires(tmp_path: Path) -> None:
    env_file, k8s_file = make_secrets(tmp_path)
    for path in (env_file, k8s_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name} is readable by others"
    values = read_env(env_file)
    required = set(REQUIRED.findall(COMPOSE.read_text()))
    assert required and required <= set(values), (
        f"compose requires variables the script does not write: {required - set(values)}"
    )
    assert all(len(values[name]) >= 32 and not is_published(values[name]) for name in required)
    assert len({values[name] for name in required}) == len(required), "every secret gets its own value"
    # optional ones (the operator console's token: empty turns the console off) are written too
    optional = set(OPTIONAL.findall(COMPOSE.read_text()))
    assert optional == {"MEDIACRAFT_OPERATOR_TOKEN"}
    assert all(len(values[name]) >= 32 and not is_published(values[name]) for name in optional)

    k8s = read_env(k8s_file)
    assert set(k8s) == K8S_KEYS
    assert k8s["MEDIACRAFT_COOKIE_KEYS"] == values["MEDIACRAFT_COOKIE_KEYS"]
    assert values["RABBITMQ_PASSWORD"] in k8s["MEDIACRAFT_BUS_URL"]
    assert values["MINIO_PASSWORD"] in k8s["MEDIACRAFT_OBJECT_STORE_URL"]


def test_a_second_run_keeps_the_secrets_and_force_replaces_them(tmp_path: Path) -> None:
    env_file, k8s_file = make_secrets(tmp_path)
    first = (env_file.read_text(), k8s_file.read_text())
    make_secrets(tmp_path)
    assert (env_file.read_text(), k8s_file.read_text()) == first
    make_secrets(tmp_path, "--force")
    assert read_env(env_file)["MEDIACRAFT_COOKIE_KEYS"] != read_env(first[0])["MEDIACRAFT_COOKIE_KEYS"]
    assert read_env(k8s_file)["MEDIACRAFT_COOKIE_KEYS"] == read_env(env_file)["MEDIACRAFT_COOKIE_KEYS"]


def test_the_generated_files_are_ignored_by_git() -> None:
    assert git_ignores(ROOT / ".env")
    assert git_ignores(LOCAL / "secrets.env")


def test_the_local_overlay_takes_its_secret_whole_from_the_generated_file() -> None:
    kustomization = yaml.safe_load((LOCAL / "kustomization.yaml").read_text())
    (generator,) = kustomization["secretGenerator"]
    assert (
        generator["name"] == "mediacraft-secrets" and generator["behavior"] == "create"
    )  # the base ships no Secret to replace
    assert generator["envs"] == ["secrets.env"] and "literals" not in generator
    # no Secret with values, and no patch giving one, anywhere in the overlay's own files
    for path in LOCAL.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), f"{path.name} holds a Secret"
