"""Idempotency keys and duplicate fingerprints."""

from __future__ import annotations

import uuid

import pytest

from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.fingerprint import task_fingerprint
from mediacraft.gateway.idempotency import check_key, request_hash, task_id_for
from mediacraft.shared.tasks import InputFile, TaskType


def test_a_key_maps_to_the_same_task_id_per_user_only() -> None:
    assert task_id_for("u1", "k") == task_id_for("u1", "k")
    assert task_id_for("u1", "k") != task_id_for("u2", "k")
    uuid.UUID(task_id_for("u1", "k"))


@pytest.mark.parametrize("key", ["", "a b", "x" * 256, "é", "\x00"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(ApiError):
        check_key(key)


def test_request_hashes_ignore_key_order() -> None:
    assert request_hash("r", {"a": 1, "b": 2}) == request_hash("r", {"b": 2, "a": 1})
    assert request_hash("r", {"a": 1}) != request_hash("r", {"a": 2})


def test_fingerprints_depend_on_content_and_config_not_names() -> None:
    a = InputFile(key="k1", original_name="a.mp4", size=1, content_hash="h1")
    renamed = InputFile(key="k2", original_name="b.mp4", size=1, content_hash="h1")
    other = InputFile(key="k3", original_name="a.mp4", size=1, content_hash="h2")
    cfg = {"regions": [[1, 2, 3, 4]]}
    fp = task_fingerprint("u", TaskType.WATERMARK_REMOVAL, [a], cfg)
    assert fp == task_fingerprint("u", TaskType.WATERMARK_REMOVAL, [renamed], cfg)
    assert fp != task_fingerprint("u", TaskType.WATERMARK_REMOVAL, [other], cfg)
    assert fp != task_fingerprint("u", TaskType.WATERMARK_REMOVAL, [a], {"regions": [[1, 2, 3, 5]]})
    assert fp != task_fingerprint("v", TaskType.WATERMARK_REMOVAL, [a], cfg)
