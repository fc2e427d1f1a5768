"""No secret the repository publishes is accepted, tried from outside the process.

- The single-process mode, started as a person starts it (`python -m mediacraft.standalone`, a
  fresh data dir, a free port, no cookie key configured), signs with a key of its own that it
  generated into <data dir>/secrets.env (mode 0600) and reuses on the next start: a cookie forged
  with the development key gets a fresh identity, never the forged user id, also when the product
  listens on every address.
- A service that would listen beyond loopback refuses to start with a published value (the
  development default, the base Secret's placeholder, the key the local overlay used to ship): it
  exits non-zero at once, naming the setting. Production refuses them on loopback too.
- A developer run on loopback still works with the development key when asked for it.
"""

from __future__ import annotations

import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mediacraft.gateway.cookies import CookieSigner, read_cookie
from mediacraft.shared.published_secrets import DEV_COOKIE_KEY, DEV_IDENTITY_TOKEN
from tests.e2e.flows.product import STANDALONE, ProductProcess, clean_environment, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[4]
COOKIE = "mc_uid"
REFUSAL_DEADLINE = 30.0  # importing the service under a loaded CI machine; the refusal itself is immediate


def base_placeholder(name: str) -> str:
    """The value deploy/k8s/secret.example.yaml shows for `name`."""
    (secret,) = [d for d in yaml.safe_load_all((ROOT / "deploy/k8s/secret.example.yaml").read_text()) if d]
    return str(secret["stringData"][name])


# One published value of each kind, for the cookie key and for the identity token. The local
# overlay's keys were in the repository until the overlay generated its Secret: still public.
PUBLISHED_COOKIE_KEYS = {
    "development default": DEV_COOKIE_KEY,
    "k8s base placeholder": base_placeholder("MEDIACRAFT_COOKIE_KEYS"),
    "local overlay key": "local-development-cookie-key-not-a-secret-0123456789",
}
PUBLISHED_TOKENS = {
    "development default": DEV_IDENTITY_TOKEN,
    "k8s base placeholder": base_placeholder("MEDIACRAFT_IDENTITY_API_TOKEN"),
    "local overlay key": "local-development-identity-token-not-a-secret",
}


def product(tmp_path: Path, data_dir: Path, **settings: str) -> ProductProcess:
    return ProductProcess(
        mode=STANDALONE,
        data_dir=data_dir,
        log_path=tmp_path / "standalone.log",
        settings={"MEDIACRAFT_LOG_LEVEL": "INFO", **settings},
    )


def forged(key: str) -> tuple[str, str]:
    """A cookie value for a user id nobody minted, signed with `key`, and that id."""
    user_id = uuid.uuid4().hex
    return CookieSigner([key]).sign(user_id, datetime.now(UTC)), user_id


def who(url: str, cookie: str | None = None) -> tuple[str, str | None]:
    """The user id the product serves for a request with `cookie`, and the cookie it sets."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    reply = httpx.get(f"{url}/api/user/info", headers=headers, timeout=10.0)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return str(body["data"]["user_id"]), read_cookie(reply.headers.get("set-cookie", "").split(";")[0], COOKIE)


def secrets_file(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.env"
    assert path.is_file(), "the single-process mode kept no secrets file in its data dir"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"secrets.env has mode {oct(path.stat().st_mode)}"
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {name: value for name, _, value in (line.partition("=") for line in lines)}


def assert_forged_cookie_refused(url: str) -> None:
    cookie, forged_id = forged(DEV_COOKIE_KEY)
    user_id, issued = who(url, cookie)
    assert user_id != forged_id, "a cookie signed with the published development key was accepted"
    assert issued is not None, "the forged cookie was not replaced by a fresh identity"
    assert issued.split(".")[0] == user_id


# --- the single-process mode with its generated key ----------------------------------------------


def test_single_process_mode_refuses_a_cookie_forged_with_the_development_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    run = product(tmp_path, data_dir)
    run.start()
    try:
        assert_forged_cookie_refused(run.url)
        key = secrets_file(data_dir)["MEDIACRAFT_COOKIE_KEYS"]
        user_id, issued = who(run.url)
        assert issued is not None
        now = datetime.now(UTC)
        # what the product signs, it signs with the key in secrets.env, never with the published one
        assert CookieSigner([key]).verify(issued, now) is not None
        assert CookieSigner([DEV_COOKIE_KEY]).verify(issued, now) is None
        assert who(run.url, issued)[0] == user_id
    finally:
        assert run.stop() == 0, run.log_tail()


def test_the_generated_secrets_are_private_and_reused_on_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    run = product(tmp_path, data_dir)
    run.start()
    try:
        first = secrets_file(data_dir)
        user_id, issued = who(run.url)
        assert issued is not None
    finally:
        run.stop()
    assert set(first) >= {"MEDIACRAFT_COOKIE_KEYS", "MEDIACRAFT_IDENTITY_API_TOKEN"}
    assert all(len(v) >= 32 and v not in (DEV_COOKIE_KEY, DEV_IDENTITY_TOKEN) for v in first.values())

    run.start()
    try:
        assert secrets_file(data_dir) == first, "the second start made new secrets"
        assert who(run.url, issued)[0] == user_id, "the cookie did not survive the restart"
    finally:
        run.stop()


def test_single_process_mode_on_every_address_generates_its_key_and_refuses_the_forged_cookie(
    tmp_path: Path,
) -> None:
    run = product(tmp_path, tmp_path / "var", MEDIACRAFT_HTTP_HOST="0.0.0.0")
    run.start()
    try:
        assert_forged_cookie_refused(run.url)
    finally:
        run.stop()


def test_a_developer_run_on_loopback_may_still_use_the_development_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    run = product(tmp_path, data_dir, MEDIACRAFT_COOKIE_KEYS=DEV_COOKIE_KEY)
    run.start()
    try:
        # asked for explicitly on 127.0.0.1: accepted, as the existing developer set-ups expect
        cookie, user_id = forged(DEV_COOKIE_KEY)
        assert who(run.url, cookie)[0] == user_id
        assert "MEDIACRAFT_COOKIE_KEYS" not in secrets_file(data_dir), "an environment value was overridden"
    finally:
        run.stop()


# --- refusal at start-up ------------------------------------------------------------------------


def refused(tmp_path: Path, module: str, settings: dict[str, str], setting: str) -> str:
    """Start `python -m module` with `settings`; assert it exits non-zero within the deadline,
    naming `setting`, without a traceback and without ever listening. Returns its output."""
    port = free_port()
    env = clean_environment(
        {"MEDIACRAFT_DATA_DIR": str(tmp_path / "var"), "MEDIACRAFT_HTTP_PORT": str(port), **settings}
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=REFUSAL_DEADLINE)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        raise AssertionError(f"{module} did not refuse to start within {REFUSAL_DEADLINE} s") from None
    text = output.decode("utf-8", "replace")
    assert process.returncode != 0, f"{module} started with a published {setting}:\n{text}"
    assert setting in text and "refused to start" in text, text
    assert "Traceback" not in text, text
    assert time.monotonic() - started < REFUSAL_DEADLINE
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return text


@pytest.mark.parametrize("kind", list(PUBLISHED_COOKIE_KEYS))
def test_a_gateway_on_a_public_address_refuses_a_published_cookie_key(tmp_path: Path, kind: str) -> None:
    settings = {
        "MEDIACRAFT_HTTP_HOST": "0.0.0.0",
        "MEDIACRAFT_COOKIE_KEYS": PUBLISHED_COOKIE_KEYS[kind],
        "MEDIACRAFT_IDENTITY_API_TOKEN": secrets.token_hex(32),
    }
    text = refused(tmp_path, "mediacraft.gateway", settings, "MEDIACRAFT_COOKIE_KEYS")
    assert PUBLISHED_COOKIE_KEYS[kind] not in text, "the refusal repeats the secret"


@pytest.mark.parametrize("kind", list(PUBLISHED_TOKENS))
def test_services_on_a_public_address_refuse_a_published_identity_token(tmp_path: Path, kind: str) -> None:
    token = PUBLISHED_TOKENS[kind]
    public = {"MEDIACRAFT_HTTP_HOST": "0.0.0.0", "MEDIACRAFT_IDENTITY_API_TOKEN": token}
    refused(tmp_path, "mediacraft.identity", public, "MEDIACRAFT_IDENTITY_API_TOKEN")
    gateway = {**public, "MEDIACRAFT_COOKIE_KEYS": secrets.token_hex(32)}
    refused(tmp_path, "mediacraft.gateway", gateway, "MEDIACRAFT_IDENTITY_API_TOKEN")


@pytest.mark.parametrize("kind", list(PUBLISHED_COOKIE_KEYS))
def test_single_process_mode_on_a_public_address_refuses_a_published_cookie_key(tmp_path: Path, kind: str) -> None:
    settings = {"MEDIACRAFT_HTTP_HOST": "0.0.0.0", "MEDIACRAFT_COOKIE_KEYS": PUBLISHED_COOKIE_KEYS[kind]}
    refused(tmp_path, "mediacraft.standalone", settings, "MEDIACRAFT_COOKIE_KEYS")


def test_production_refuses_the_development_key_even_on_loopback(tmp_path: Path) -> None:
    settings = {
        "MEDIACRAFT_ENVIRONMENT": "production",
        "MEDIACRAFT_HTTP_HOST": "127.0.0.1",
        "MEDIACRAFT_COOKIE_KEYS": DEV_COOKIE_KEY,
        "MEDIACRAFT_IDENTITY_API_TOKEN": secrets.token_hex(32),
    }
    refused(tmp_path, "mediacraft.gateway", settings, "MEDIACRAFT_COOKIE_KEYS")
