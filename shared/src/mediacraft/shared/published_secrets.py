"""Secret values the repository publishes, in one place, and the rule that refuses them.

Anything written in this repository (a development default in a Settings class, a placeholder in
deploy/k8s/secret.example.yaml, a key that a local overlay once shipped) is known to everybody who
can read the source: a cookie signed with such a key is accepted as any user id. The services
refuse these values for their secrets (the cookie keys, the identity API token):

- always outside development (MEDIACRAFT_ENVIRONMENT other than development/test);
- in development too whenever the service listens on an address other than the loopback one
  (MEDIACRAFT_HTTP_HOST not 127.0.0.1, ::1 or localhost), since others can reach it then.

A developer run on 127.0.0.1 keeps working with the defaults; the single-process mode and the
local stack generate random secrets of their own anyway (mediacraft.standalone.local_secrets).
tests/unit/shared/test_published_secrets.py scans the deploy files and the Settings defaults,
so a new published value that is missing here fails the build.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager

# The development defaults of the gateway's and identity's Settings.
DEV_COOKIE_KEY = "dev-cookie-key-not-for-production"
DEV_IDENTITY_TOKEN = "dev-identity-token-not-for-production"

PUBLISHED_SECRETS: frozenset[str] = frozenset(
    {
        DEV_COOKIE_KEY,
        DEV_IDENTITY_TOKEN,
        # deploy/k8s/secret.example.yaml: placeholders (any value holding REPLACE_ME is refused too)
        "REPLACE_ME_WITH_A_RANDOM_KEY_OF_AT_LEAST_32_BYTES",
        "REPLACE_ME_WITH_A_RANDOM_TOKEN",
        "REPLACE_ME_WITH_A_RANDOM_OPERATOR_TOKEN",
        # deploy/k8s/overlays/local/secret.yaml before the overlay generated its Secret: still
        # public in the repository's history
        "local-development-cookie-key-not-a-secret-0123456789",
        "local-development-identity-token-not-a-secret",
    }
)
PLACEHOLDER_MARK = "REPLACE_ME"

LOOPBACK_NAMES = frozenset({"localhost"})


class PublishedSecretError(RuntimeError):
    """A secret setting holds a value the repository publishes, where that is not allowed."""


def is_published(value: str) -> bool:
    """Whether `value` is one of the repository's published secrets or a placeholder."""
    text = value.strip()
    return text in PUBLISHED_SECRETS or PLACEHOLDER_MARK in text.upper().replace("-", "_")


def is_loopback(host: str) -> bool:
    """Whether a listening address only accepts connections from this machine."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another host name, or "" (every address): reachable from elsewhere


def check_secret(env_name: str, values: tuple[str, ...], *, development: bool, http_host: str | None) -> None:
    """Raise PublishedSecretError naming `env_name` when any of `values` is published and the
    service is outside development, or in development listening beyond loopback (`http_host`;
    None for a service that does not listen)."""
    if not any(is_published(v) for v in values):
        return
    fix = "set a random value of your own (e.g. `openssl rand -hex 32`)"
    if not development:
        raise PublishedSecretError(
            f"{env_name} holds a value published in the MediaCraft repository (a development default or a "
            f"placeholder): anyone could use it; outside development {fix}"
        )
    if http_host is not None and not is_loopback(http_host):
        raise PublishedSecretError(
            f"{env_name} holds a value published in the MediaCraft repository (a development default or a "
            f"placeholder) while the service listens on MEDIACRAFT_HTTP_HOST={http_host!r}, beyond this machine: "
            f"{fix}, or listen on 127.0.0.1"
        )


@contextmanager
def refused_at_start(service: str) -> Iterator[None]:
    """Around reading a service's settings in its entry point: a published secret ends the
    process at once with exit status 1 and the one-line reason on stderr, not a traceback."""
    try:
        yield
    except PublishedSecretError as exc:
        raise SystemExit(f"{service} refused to start: {exc}") from None
