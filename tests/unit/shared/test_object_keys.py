"""The object key layout every service shares: keys built by one side are read back by another."""

from __future__ import annotations

from mediacraft.shared.object_keys import (
    KeyOwner,
    area_of,
    attempt_prefix,
    parse_key,
    result_prefix,
    task_prefixes,
    upload_key,
    upload_prefix,
)


def test_keys_name_their_task_and_uploads_their_user() -> None:
    assert parse_key("uploads/alice/t1/abc") == KeyOwner("uploads", "t1", "alice")
    assert parse_key("results/t1/2/out.mp4") == KeyOwner("results", "t1", None)
    for key in ("uploads/alice/t1/", "uploads/alice", "results/t1", "results//1/x", "other/t1/x", "uploads"):
        assert parse_key(key) is None, key
    assert task_prefixes("alice", "t1") == ("uploads/alice/t1/", "results/t1/")
    assert (area_of("uploads/x"), area_of("results/x"), area_of("tmp/x")) == ("uploads", "results", None)


def test_what_the_gateway_and_scheduler_write_cleanup_reads_back_as_theirs() -> None:
    upload = upload_key("alice", "t1", "abc123")
    assert upload.startswith(upload_prefix("alice", "t1"))
    assert parse_key(upload) == KeyOwner("uploads", "t1", "alice")
    result = attempt_prefix("t1", 3) + "cleaned.mp4"
    assert result == "results/t1/3/cleaned.mp4" and result.startswith(result_prefix("t1"))
    assert parse_key(result) == KeyOwner("results", "t1", None)
