"""Duplicate suppression: the same user, type, input contents and config make the same print."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from mediacraft.shared.tasks import InputFile, TaskType


def task_fingerprint(user_id: str, task_type: TaskType, inputs: Sequence[InputFile], config: dict[str, Any]) -> str:
    """A hex digest over what makes two submissions the same job (names and keys do not count)."""
    doc = {
        "user": user_id,
        "type": task_type.value,
        "inputs": [i.content_hash or f"{i.key}:{i.size}" for i in inputs],
        "config": config,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
