"""Where the gateway stores a task's uploads in the object store."""

from __future__ import annotations


def upload_prefix(user_id: str, task_id: str) -> str:
    """Where a task's uploads live in the object store."""
    return f"uploads/{user_id}/{task_id}/"
