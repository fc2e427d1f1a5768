"""The scheduler keeps each task's messages in the task's trace: what it publishes while handling
a task's message continues that message's trace, and what it does for a task on its own account
(a dispatch made while handling another task's event, a lapsed lease found by a tick) or on news
that carries no trace continues the trace kept on the task."""

from __future__ import annotations

from mediacraft.shared.messages import CancelJob, Envelope, JobSucceeded, RetryDue, RunJob, SubmitTask
from mediacraft.shared.tasks import InputFile, ResultFile, Task, TaskStatus, TaskType
from mediacraft.shared.tracing import trace_id_of
from tests.fixtures.tracing import LogLines
from tests.unit.scheduler.rig import SchedulerRig

# two tasks' traces, as the gateway's create requests began them
FIRST = "00-11111111111111111111111111111111-1111111111111111-01"
SECOND = "00-22222222222222222222222222222222-2222222222222222-01"


async def traced_submit(rig: SchedulerRig, user_id: str, trace_context: str) -> str:
    """Queue a task created in `trace_context` and send its SubmitTask in that trace, as the gateway does."""
    task_id = f"traced-{len(rig.bus.published)}-{user_id}"
    await rig.clock.advance(0.001)
    now = rig.clock.now()
    task = await rig.store.insert(
        Task(
            task_id=task_id,
            user_id=user_id,
            task_type=TaskType.VIDEO_MERGE,
            status=TaskStatus.QUEUED,
            created_at=now,
            submitted_at=now,
            inputs=[InputFile(key=f"uploads/{user_id}/{task_id}/in.mp4", original_name="in.mp4", size=1)],
            trace_context=trace_context,
        )
    )
    submit = SubmitTask(task_id=task_id, user_id=user_id, task_type=task.task_type, version=task.version)
    await rig.deliver(Envelope.wrap(submit, correlation_id=task_id, traceparent=trace_context))
    return task_id


def traces_of(rig: SchedulerRig, kind: type, task_id: str) -> list[str | None]:
    """The trace ids of what the scheduler published of `kind` about `task_id`, in order."""
    return [
        trace_id_of(p.envelope.traceparent)
        for p in rig.bus.published
        if isinstance(p.message, kind) and getattr(p.message, "task_id", None) == task_id
    ]


async def test_a_dispatch_made_room_for_by_another_task_is_in_its_own_tasks_trace(rig: SchedulerRig) -> None:
    first = await traced_submit(rig, "alice", FIRST)
    second = await traced_submit(rig, "alice", SECOND)  # waits: one running task per user
    assert traces_of(rig, RunJob, first) == [trace_id_of(FIRST)]
    assert traces_of(rig, RunJob, second) == []

    # the first task's completion, in the first task's trace, frees the slot the second one takes
    result = ResultFile(key=f"results/{first}/1/out.mp4", size=10)
    done = JobSucceeded(task_id=first, attempt=1, result=result)
    await rig.deliver(Envelope.wrap(done, correlation_id=first, traceparent=FIRST))

    assert await rig.status(first) == TaskStatus.COMPLETED
    assert traces_of(rig, RunJob, second) == [trace_id_of(SECOND)]


async def test_a_lease_lapse_found_by_a_tick_is_in_the_tasks_trace(rig: SchedulerRig, log_lines: LogLines) -> None:
    task_id = await traced_submit(rig, "alice", FIRST)
    await rig.started(task_id)  # a worker's news without a trace: the task's trace still holds

    await rig.clock.advance(rig.settings.lease_seconds)
    await rig.tick()  # a tick belongs to no task and no trace

    assert traces_of(rig, CancelJob, task_id) == [trace_id_of(FIRST)]  # the lost worker told to stop
    assert traces_of(rig, RunJob, task_id) == [trace_id_of(FIRST)] * 2  # dispatched again
    [lapsed] = [line for line in log_lines.about(task_id) if line["event"] == "scheduler.lease_lapsed"]
    assert lapsed["trace_id"] == trace_id_of(FIRST)


async def test_news_without_a_trace_is_handled_in_the_trace_of_its_task(rig: SchedulerRig) -> None:
    task_id = await traced_submit(rig, "alice", FIRST)
    await rig.fail(task_id)  # the rig's worker reports outside any trace, as one older than traces would

    assert await rig.status(task_id) == TaskStatus.RETRYING
    assert traces_of(rig, RetryDue, task_id) == [trace_id_of(FIRST)]
    await rig.retry_comes_due(task_id)
    assert traces_of(rig, RunJob, task_id) == [trace_id_of(FIRST)] * 2  # the next attempt
