"""The gateway's own defaults for what the harness widens for other suites (rates, quota, draft cap)."""

from __future__ import annotations

from typing import Any

from mediacraft.gateway.settings import GatewaySettings

LIMIT_SETTINGS = (
    "rate_user_per_second",
    "rate_user_burst",
    "rate_ip_per_second",
    "rate_ip_burst",
    "rate_create_per_second",
    "rate_create_burst",
    "new_identities_per_ip_per_minute",
    "new_identities_per_ip_burst",
    "user_storage_quota_bytes",
    "max_open_drafts_per_user",
)


def default_limits(**overrides: Any) -> dict[str, Any]:
    """Every limit at the value GatewaySettings gives it when nothing is configured."""
    values = {name: GatewaySettings.model_fields[name].default for name in LIMIT_SETTINGS}
    values.update(overrides)
    return values
