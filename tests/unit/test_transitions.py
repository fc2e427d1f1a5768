"""The task state machine table (mediacraft.shared.transitions) and the check the stores run with it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mediacraft.shared import transitions
from mediacraft.shared.adapters.store.codec import IMMUTABLE_FIELDS
from mediacraft.shared.errors import Conflict, InvalidTransition
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, ResultFile, Task, TaskStatus
from mediacraft.shared.transitions import INITIAL_STATUS, TRANSITIONS, Component, checked_changes

S = TaskStatus
# The lifecycle diagram of ARCHITECTURE.md ("Task lifecycle"), edge by edge.
PRODUCT_DIAGRAM = {
    (S.CREATED, S.UPLOADED),
    (S.UPLOADED, S.QUEUED),
    (S.QUEUED, S.PROCESSING),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.RETRYING),
    (S.RETRYING, S.QUEUED),
    (S.QUEUED, S.CANCELLED),
    (S.PROCESSING, S.CANCELLING),
    (S.CANCELLING, S.CANCELLED),
    (S.CREATED, S.EXPIRED),
    (S.UPLOADED, S.EXPIRED),
    (S.COMPLETED, S.EXPIRED),
    (S.FAILED, S.EXPIRED),
    (S.CANCELLED, S.EXPIRED),
}
EDGES = {(source, t.target) for t in TRANSITIONS.values() for source in t.sources}


def test_each_transition_is_its_module_constant_under_its_own_name() -> None:
    for name, transition in TRANSITIONS.items():
        assert transition.name == name
        assert getattr(transitions, name.upper()) is transition


def test_the_table_has_every_edge_of_the_product_diagram() -> None:
    assert PRODUCT_DIAGRAM <= EDGES


def test_every_status_is_reached_from_created_and_only_expired_is_final() -> None:
    reached, frontier = {INITIAL_STATUS}, [INITIAL_STATUS]
    while frontier:
        status = frontier.pop()
        for source, target in EDGES:
            if source is status and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(TaskStatus)
    assert {status for status in TaskStatus if not any(source is status for source, _ in EDGES)} == {S.EXPIRED}


def test_one_writer_per_phase() -> None:
    """Drafts are the gateway's (cleanup removes abandoned ones); after submit, only the scheduler writes."""
    for transition in TRANSITIONS.values():
        sources = set(transition.sources)
        if sources & ACTIVE_STATUSES:
            assert transition.by is Component.SCHEDULER, transition.name
        if sources & DRAFT_STATUSES:
            assert transition.by in (Component.GATEWAY, Component.CLEANUP), transition.name
        if transition.by is Component.CLEANUP:
            assert transition.target is S.EXPIRED and not sources & ACTIVE_STATUSES, transition.name


def test_transitions_set_only_task_fields_the_store_does_not_own() -> None:
    for transition in TRANSITIONS.values():
        assert transition.fields <= set(Task.model_fields), transition.name
        assert not transition.fields & (IMMUTABLE_FIELDS | {"status", "updated_at"}), transition.name
        assert transition.sources == tuple(sorted(set(transition.sources), key=list(TaskStatus).index))


def test_checked_changes_adds_the_target_status() -> None:
    assert checked_changes(transitions.REPOSITION, {"queue_position": 3}) == {
        "queue_position": 3,
        "status": S.QUEUED,
    }
    assert checked_changes(transitions.CANCEL_WAITING, None) == {"status": S.CANCELLED}
    assert checked_changes(transitions.DISPATCH, {"status": "processing"}) == {"status": S.PROCESSING}


def test_checked_changes_leaves_the_callers_dict_alone() -> None:
    changes = {"status": S.COMPLETED, "result": ResultFile(key="k", size=1)}
    checked_changes(transitions.COMPLETE, changes)
    assert changes == {"status": S.COMPLETED, "result": ResultFile(key="k", size=1)}


@pytest.mark.parametrize(
    ("transition", "changes", "says"),
    [
        (transitions.DISPATCH, {"status": S.COMPLETED}, "dispatch goes to processing"),
        (transitions.REPOSITION, {"status": S.PROCESSING}, "reposition goes to queued"),
        (transitions.REPOSITION, {"progress": 1.0, "result": None}, "reposition may not set progress, result"),
        (transitions.UPLOAD, {"user_id": "bob"}, "upload may not set user_id"),
        (replace(transitions.UPLOAD, by=Component.CLEANUP), {}, "is not a transition"),
        ("upload", {}, "is not a transition"),
    ],
)
def test_checked_changes_refuses_what_the_table_does_not_allow(
    transition: object, changes: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidTransition, match=says) as raised:
        checked_changes(transition, changes)  # type: ignore[arg-type]
    assert raised.value.code == "invalid_transition"


def test_a_refusal_is_no_lost_race() -> None:
    """Callers retry on Conflict; a refusal is a bug that must not be retried away."""
    assert not issubclass(InvalidTransition, Conflict)
    assert issubclass(InvalidTransition, ValueError)
