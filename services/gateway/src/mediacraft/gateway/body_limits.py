"""The limits of the gateway's request bodies: a small one for every route (JSON bodies, forms,
and bodies sent where none is expected), a large one only for the multipart bodies of the two
upload routes, whose files are further bounded one by one while they stream (upload_flow.py)."""

from __future__ import annotations

from mediacraft.gateway.settings import GatewaySettings
from mediacraft.gateway.upload_flow import MULTIPART_OVERHEAD
from mediacraft.shared.http.body_limit import BodyRules, StreamedRoute

# Routes whose multipart/form-data bodies carry files (every other body gets the JSON limit).
UPLOAD_PATHS = (r"/api/tasks/[^/]+/upload", r"/api/tasks/submit")


def body_rules(settings: GatewaySettings) -> BodyRules:
    """The body limits and timeouts of every route, from the settings."""
    per_file = min(settings.max_upload_bytes, settings.media.max_file_size)
    ceiling = settings.merge_max_inputs * per_file + MULTIPART_OVERHEAD
    return BodyRules(
        max_bytes=settings.max_json_body_bytes,
        idle_seconds=settings.body_idle_timeout_seconds or None,
        min_rate=settings.body_min_rate_bytes_per_second or None,
        rate_grace_seconds=settings.body_rate_grace_seconds,
        streamed=tuple(StreamedRoute(path, ceiling) for path in UPLOAD_PATHS),
    )
