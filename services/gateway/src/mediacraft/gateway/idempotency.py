"""Idempotency-Key: a repeated key from the same user answers with the task of the first request.

The task id is derived from (user, key), so the store's unique task id makes the first request
win across replicas and restarts with no extra table: a repeat finds the task by id. The hash of
the request is kept on the task, so that the same key with a different request is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from mediacraft.gateway.envelope import ApiError

_NAMESPACE = uuid.UUID("5b0f8a57-61f2-4c1e-9d0a-7b3e2e6f4c11")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
META_FIELD = "idempotency"


def check_key(key: str | None) -> str | None:
    """The header's key if it is printable ASCII of sane length; None when absent."""
    if key is None:
        return None
    if not _KEY.match(key):
        raise ApiError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters")
    return key


def task_id_for(user_id: str, key: str) -> str:
    """The task id a request with this key creates, the same every time for this user."""
    return str(uuid.uuid5(_NAMESPACE, f"{user_id}\x00{key}"))


def request_hash(route: str, doc: Any) -> str:
    """A digest of what the request asked for, to tell a replay from a reused key."""
    canonical = json.dumps([route, doc], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
