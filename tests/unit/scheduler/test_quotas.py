"""Quota decisions: the user's own quota wins, then the global one, then type and pool limits."""

from __future__ import annotations

from mediacraft.scheduler.quotas import Block, Quotas, Usage, blocked_by, user_block
from mediacraft.shared.tasks import TaskType

MERGE = TaskType.VIDEO_MERGE
WATERMARK = TaskType.WATERMARK_REMOVAL
IMAGE = TaskType.IMAGE_GENERATION
VIDEO = TaskType.VIDEO_GENERATION


def test_default_quotas_let_one_task_per_user_and_five_in_total() -> None:
    quotas, usage = Quotas(), Usage()
    assert blocked_by(quotas, usage, "alice", MERGE) is None
    usage.add("alice", MERGE)
    assert blocked_by(quotas, usage, "alice", MERGE) is Block.USER
    for user in ("b", "c", "d", "e"):
        assert blocked_by(quotas, usage, user, MERGE) is None
        usage.add(user, MERGE)
    assert blocked_by(quotas, usage, "f", MERGE) is Block.SYSTEM


def test_a_user_at_quota_hears_about_their_own_task_even_when_the_system_is_full() -> None:
    quotas, usage = Quotas(per_user=1, total=1), Usage()
    usage.add("alice", MERGE)
    assert user_block(quotas, usage, "alice") is Block.USER
    assert user_block(quotas, usage, "bob") is Block.SYSTEM


def test_type_quota_holds_one_type_and_not_another() -> None:
    quotas, usage = Quotas(per_user=5, total=5, per_type={MERGE: 1}), Usage()
    usage.add("alice", MERGE)
    assert blocked_by(quotas, usage, "bob", MERGE) is Block.SYSTEM
    assert blocked_by(quotas, usage, "bob", WATERMARK) is None


def test_pool_quota_counts_every_type_of_the_pool() -> None:
    quotas, usage = Quotas(per_user=5, total=5, per_pool={"generate": 2}), Usage()
    usage.add("alice", IMAGE)
    usage.add("bob", VIDEO)
    assert blocked_by(quotas, usage, "carol", IMAGE) is Block.SYSTEM
    assert blocked_by(quotas, usage, "carol", VIDEO) is Block.SYSTEM
    assert blocked_by(quotas, usage, "carol", MERGE) is None


def test_removing_frees_exactly_what_adding_took() -> None:
    quotas, usage = Quotas(per_user=1, total=2), Usage()
    usage.add("alice", IMAGE)
    usage.add("bob", MERGE)
    usage.remove("alice", IMAGE)
    assert usage.total == 1
    assert dict(usage.by_user) == {"bob": 1}
    assert dict(usage.by_pool) == {"merge": 1}
    assert dict(usage.by_type) == {MERGE: 1}
    assert blocked_by(quotas, usage, "alice", IMAGE) is None
