"""The message catalogue of the task lifecycle (ARCHITECTURE.md, Task lifecycle and Bus topology).

Commands are imperative and go to the scheduler inbox; jobs go to a worker pool; control messages
go to every worker; events are past tense and go to the topic exchange under `task.*`, `job.*`
and `user.*`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from mediacraft.shared.messages.envelope import Message
from mediacraft.shared.tasks import (
    InputFile,
    MediaInfo,
    ResultFile,
    SubTask,
    Task,
    TaskDetection,
    TaskStatus,
    TaskType,
    subtasks_from_map,
)

__all__ = [
    "CancelJob",
    "CancelTask",
    "DetectWatermarks",
    "DetectionFinished",
    "JobCancelled",
    "JobClaimQuery",
    "JobClaimed",
    "JobFailed",
    "JobHeartbeat",
    "JobProgress",
    "JobStarted",
    "JobSucceeded",
    "ProbeMessage",
    "ProjectChanged",
    "ReconcileTasks",
    "RetryDue",
    "RetryTask",
    "RunDetection",
    "RunJob",
    "SubmitTask",
    "TaskProgressed",
    "TaskStatusChanged",
    "UserCreated",
    "UserSeen",
]


# --- commands (mediacraft.commands -> scheduler.inbox) ---------------------------------------


class SubmitTask(Message):
    TYPE = "task.submit"
    task_id: str
    user_id: str
    task_type: TaskType
    # the queued task as the submitter wrote it; when given, the scheduler queues it without
    # reading the store first (its dispatch compare-and-set still checks status and version)
    version: int | None = None
    submitted_at: datetime | None = None


class CancelTask(Message):
    TYPE = "task.cancel"
    task_id: str
    user_id: str


class RetryTask(Message):
    """A person asked to run a failed or cancelled task again with the same parameters."""

    TYPE = "task.retry"
    task_id: str
    user_id: str


class RetryDue(Message):
    """Comes back from a delay queue when a retrying task's wait is over."""

    TYPE = "task.retry_due"
    task_id: str
    attempt: int


class ReconcileTasks(Message):
    """Asks the active scheduler to compare its view with the store and repair what drifted."""

    TYPE = "task.reconcile"
    reason: str = "periodic"


class DetectWatermarks(Message):
    """A person asked where the watermark of an uploaded (not yet submitted) video is."""

    TYPE = "task.detect"
    task_id: str
    user_id: str
    request_id: str


# --- jobs (mediacraft.jobs -> jobs.<pool>) and control (mediacraft.control, fanout) -------------


class RunJob(Message):
    TYPE = "job.run"
    task_id: str
    user_id: str
    attempt: int
    task_type: TaskType
    inputs: list[InputFile]
    config: dict[str, Any] = Field(default_factory=dict)
    output_key: str
    deadline_seconds: float | None = None


class RunDetection(Message):
    """A short detection job for the watermark pool: find the mark in the draft's uploaded video."""

    TYPE = "job.detect"
    task_id: str
    user_id: str
    request_id: str
    inputs: list[InputFile]
    deadline_seconds: float | None = None


class CancelJob(Message):
    TYPE = "job.cancel"
    task_id: str
    attempt: int


class JobClaimQuery(Message):
    """A worker that got a redelivered job asks every worker whether that attempt runs (or ran)
    elsewhere, before it starts it: a copy redelivered after a connection loss must not run twice."""

    TYPE = "job.claim_query"
    task_id: str
    attempt: int
    asked_by: str


class JobClaimed(Message):
    """A worker's answer to JobClaimQuery: it runs this attempt (finished=False) or has run it."""

    TYPE = "job.claimed"
    task_id: str
    attempt: int
    worker_id: str
    asked_by: str
    finished: bool = False


# --- worker events (mediacraft.events, routing key job.<what>) -----------------------------------


class JobStarted(Message):
    TYPE = "job.started"
    task_id: str
    attempt: int
    worker_id: str


class JobProgress(Message):
    TYPE = "job.progress"
    task_id: str
    attempt: int
    percent: float = Field(ge=0, le=100)
    stage: str
    stage_percent: float = Field(default=0, ge=0, le=100)
    eta_seconds: float | None = None
    message: str | None = Field(default=None, max_length=300)  # the processor's plain words, if any
    # every stage the processor declared, in order, as it now stands (None from older workers:
    # the scheduler then builds the list from `stage` and `stage_percent`)
    subtasks: list[SubTask] | None = None


class JobHeartbeat(Message):
    TYPE = "job.heartbeat"
    task_id: str
    attempt: int
    worker_id: str


class JobSucceeded(Message):
    TYPE = "job.succeeded"
    task_id: str
    attempt: int
    result: ResultFile
    processing_seconds: float | None = None
    # the job's stages as they ended (older workers: None, the last progress event's list is kept)
    subtasks: list[SubTask] | None = None


class JobFailed(Message):
    TYPE = "job.failed"
    task_id: str
    attempt: int
    code: str
    message: str
    retryable: bool
    # the wait a backend asked for (its Retry-After), in seconds: the retry waits at least that long
    retry_after_seconds: float | None = Field(default=None, ge=0)


class DetectionFinished(Message):
    """The watermark pool's answer to a RunDetection (state done, nothing_found, cannot_tell or failed)."""

    TYPE = "job.detected"
    task_id: str
    request_id: str
    detection: TaskDetection


class JobCancelled(Message):
    TYPE = "job.cancelled"
    task_id: str
    attempt: int


# --- task events (mediacraft.events, routing key task.<what>) for live clients ------------------


class TaskStatusChanged(Message):
    TYPE = "task.status_changed"
    task_id: str
    user_id: str
    status: TaskStatus
    previous_status: TaskStatus | None = None
    version: int
    task: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, task: Task, previous: TaskStatus | None) -> TaskStatusChanged:
        """The event of a write that left `task` as it now is, coming from status `previous`."""
        return cls(
            task_id=task.task_id,
            user_id=task.user_id,
            status=task.status,
            previous_status=previous,
            version=task.version,
            task=task.to_doc(),
        )


class TaskProgressed(Message):
    TYPE = "task.progressed"
    task_id: str
    user_id: str
    progress: float
    stage: str | None = None
    subtasks: list[SubTask] = Field(default_factory=list)
    eta_seconds: float | None = None
    message: str | None = None
    version: int

    @field_validator("subtasks", mode="before")
    @classmethod
    def _subtasks_list(cls, value: Any) -> Any:
        """Events of older publishers carried a `{stage: percent}` map."""
        return subtasks_from_map(value) if isinstance(value, dict) else value

    @classmethod
    def of(cls, task: Task) -> TaskProgressed:
        """The event of a progress write that left `task` as it now is."""
        return cls(
            task_id=task.task_id,
            user_id=task.user_id,
            progress=task.progress,
            stage=task.stage,
            subtasks=task.subtasks,
            eta_seconds=task.eta_seconds,
            message=task.message,
            version=task.version,
        )


# --- project events (mediacraft.events, routing key project.<what>) for live clients ----------------


class ProjectChanged(Message):
    """The gateway wrote a video-creation project (created, script started, script kept, announced).

    `project` is the project's public view as the creation tool reads it. Changes that follow the
    project's script task are derived by each gateway replica from that task's own events.
    """

    TYPE = "project.changed"
    project_id: str
    user_id: str
    version: int
    project: dict[str, Any] = Field(default_factory=dict)


# --- user events (mediacraft.events, routing key user.<what>) ------------------------------------


class UserCreated(Message):
    TYPE = "user.created"
    user_id: str


class UserSeen(Message):
    TYPE = "user.seen"
    user_id: str
    at: datetime


# --- infrastructure --------------------------------------------------------------------------------


class ProbeMessage(Message):
    """A message with no business meaning, used by contract tests and benchmarks."""

    TYPE = "probe"
    n: int = 0
    text: str = ""


_ = MediaInfo  # re-exported types used in payloads
