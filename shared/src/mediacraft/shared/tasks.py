"""The task document: the read model every client sees, and the shape every store keeps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediacraft.shared.tracing import trace_id_of


class TaskType(StrEnum):
    WATERMARK_REMOVAL = "watermark_removal"
    VIDEO_MERGE = "video_merge"
    IMAGE_GENERATION = "image_generation"
    VIDEO_GENERATION = "video_generation"
    VIDEO_SCRIPT = "video_script"  # a video-creation project's script (mediacraft.shared.scripts)
    VIDEO_REPROCESS = "video_reprocess"  # a video of the library: web rendition, poster, storyboard


class TaskStatus(StrEnum):
    CREATED = "created"
    UPLOADED = "uploaded"
    QUEUED = "queued"
    PROCESSING = "processing"
    RETRYING = "retrying"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


DRAFT_STATUSES = frozenset({TaskStatus.CREATED, TaskStatus.UPLOADED})
ACTIVE_STATUSES = frozenset({TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING, TaskStatus.CANCELLING})
TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.EXPIRED})

# Which worker pool (job queue) runs each task type.
POOL_OF_TYPE: dict[TaskType, str] = {
    TaskType.WATERMARK_REMOVAL: "watermark",
    TaskType.VIDEO_MERGE: "merge",
    TaskType.IMAGE_GENERATION: "generate",
    TaskType.VIDEO_GENERATION: "generate",
    TaskType.VIDEO_SCRIPT: "generate",
    TaskType.VIDEO_REPROCESS: "merge",  # ffmpeg work, like merging
}


class MediaInfo(BaseModel):
    """What ffprobe told us about a file (all optional: images have no duration)."""

    model_config = ConfigDict(extra="allow")

    format_name: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    frame_count: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    has_audio: bool | None = None


class InputFile(BaseModel):
    key: str
    original_name: str
    size: int
    content_hash: str | None = None
    media: MediaInfo | None = None


class ResultOutput(BaseModel):
    """One more file a job produced beside its main result, named by its role ("poster")."""

    role: str
    key: str
    size: int
    content_type: str = "application/octet-stream"
    filename: str
    info: dict[str, Any] = Field(default_factory=dict)


class ResultFile(BaseModel):
    key: str
    size: int
    content_type: str = "application/octet-stream"
    filename: str | None = None
    media: MediaInfo | None = None
    info: dict[str, Any] = Field(default_factory=dict)
    outputs: list[ResultOutput] = Field(default_factory=list)  # the job's other files, if any

    def output(self, role: str) -> ResultOutput | None:
        """The other file with this role, if the job produced one."""
        return next((item for item in self.outputs if item.role == role), None)

    def keys(self) -> list[str]:
        """Every object key of the result: the main file's and its other files'."""
        return [self.key, *(item.key for item in self.outputs)]


class ControlKind(StrEnum):
    """What a person may ask of a submitted task."""

    CANCEL = "cancel"
    RETRY = "retry"


class RequestedControl(BaseModel):
    """A cancel or retry a person asked for, recorded on the task by the gateway before it tells the
    scheduler, so that a lost message loses nothing: the scheduler carries it out and clears it."""

    kind: ControlKind
    requested_at: datetime


# The statuses in which each control can still be carried out: a cancel of a waiting or running
# task (a cancelling one is already being cancelled), a retry of a failed or cancelled one.
CONTROL_STATUSES: dict[ControlKind, frozenset[TaskStatus]] = {
    ControlKind.CANCEL: frozenset({TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING}),
    ControlKind.RETRY: frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED}),
}


class TaskError(BaseModel):
    code: str
    message: str
    retryable: bool = False


DetectionState = Literal["pending", "done", "nothing_found", "cannot_tell", "failed"]
DETECTION_ENDS: frozenset[str] = frozenset({"done", "nothing_found", "cannot_tell", "failed"})


class DetectedBox(BaseModel):
    """One region detection proposes: a box `[x, y, w, h]` in source pixels and how sure it is (0..1)."""

    box: tuple[int, int, int, int]
    confidence: float = Field(ge=0, le=1)


class SubTaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class SubTask(BaseModel):
    """One stage of a task's work, as its processor declared it (`Task.subtasks`, in order)."""

    name: str = Field(min_length=1, max_length=64)
    status: SubTaskStatus = SubTaskStatus.PENDING
    progress: float = Field(default=0.0, ge=0, le=100)
    message: str | None = None


def subtasks_from_map(stages: dict[str, Any]) -> list[SubTask]:
    """The ordered list from the former `{stage: percent}` map (stored tasks and old events)."""
    items: list[SubTask] = []
    for name, value in stages.items():
        percent = min(100.0, max(0.0, float(value)))
        status = SubTaskStatus.COMPLETED if percent >= 100 else SubTaskStatus.RUNNING
        items.append(SubTask(name=str(name), status=status, progress=percent))
    return items


def upsert_subtask(subtasks: list[SubTask], name: str, percent: float) -> list[SubTask]:
    """The list with `name` at `percent` (added at the end when new; earlier running stages done:
    stages run in order). Progress of a stage never moves backwards."""
    out: list[SubTask] = []
    found = False
    for item in subtasks:
        if item.name == name:
            found = True
            value = max(item.progress, min(100.0, max(0.0, percent)))
            status = SubTaskStatus.COMPLETED if value >= 100 else SubTaskStatus.RUNNING
            out.append(item.model_copy(update={"progress": value, "status": status}))
        elif not found and item.status is SubTaskStatus.RUNNING:
            out.append(item.model_copy(update={"progress": 100.0, "status": SubTaskStatus.COMPLETED}))
        else:
            out.append(item)
    if not found:
        value = min(100.0, max(0.0, percent))
        status = SubTaskStatus.COMPLETED if value >= 100 else SubTaskStatus.RUNNING
        out.append(SubTask(name=name, status=status, progress=value))
    return out


def all_completed(subtasks: list[SubTask]) -> list[SubTask]:
    """Every stage completed (the task's result is final)."""
    return [s.model_copy(update={"progress": 100.0, "status": SubTaskStatus.COMPLETED}) for s in subtasks]


class TaskDetection(BaseModel):
    """The answer to "where is the watermark?" for an uploaded watermark task (`Task.detection`).

    `pending` from the request until the watermark pool answers; then `done` (regions found),
    `nothing_found`, `cannot_tell` (the picture does not move enough to say) or `failed`.
    `request_id` names the request, so the answer of an older request never replaces a newer one.
    """

    state: DetectionState
    regions: list[DetectedBox] = Field(default_factory=list)
    message: str = ""
    request_id: str
    requested_at: datetime | None = None
    finished_at: datetime | None = None


class Task(BaseModel):
    """One task document. Field names follow the product brief where it has them."""

    model_config = ConfigDict(extra="ignore")

    task_id: str
    user_id: str
    task_type: TaskType
    status: TaskStatus = TaskStatus.CREATED
    version: int = 0

    progress: float = 0.0
    stage: str | None = None
    # the stages of the running (or last) attempt, in order, as its processor declared them
    subtasks: list[SubTask] = Field(default_factory=list)
    message: str | None = None
    eta_seconds: float | None = None
    queue_position: int | None = None

    attempts: int = 0
    retry_count: int = 0
    lost_redispatches: int = 0  # attempts lost with their worker and dispatched again at once
    max_retries: int | None = None  # the scheduler's retry budget, written when it dispatches
    next_retry_at: datetime | None = None
    lease_expires_at: datetime | None = None

    created_at: datetime
    updated_at: datetime | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None

    original_filename: str | None = None
    file_size: int | None = None
    inputs: list[InputFile] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    result: ResultFile | None = None
    error: TaskError | None = None
    error_message: str | None = None

    detection: TaskDetection | None = None  # watermark drafts: the last detection asked for

    fingerprint: str | None = None
    # the W3C traceparent of the request that created the task: its trace (mediacraft.shared.tracing)
    trace_context: str | None = None
    notified: bool = False
    hidden: bool = False
    # gateway-owned, beside the user-owned flags: a cancel or retry asked for and not yet carried out
    control: RequestedControl | None = None

    @field_validator("subtasks", mode="before")
    @classmethod
    def _subtasks_list(cls, value: Any) -> Any:
        """Tasks stored before stages were a list kept them as a `{stage: percent}` map."""
        return subtasks_from_map(value) if isinstance(value, dict) else value

    @property
    def pending_control(self) -> ControlKind | None:
        """The requested control while the task's status still allows it; None when there is none
        or the task has moved on (carried out, or it can no longer be)."""
        if self.control is None or self.status not in CONTROL_STATUSES[self.control.kind]:
            return None
        return self.control.kind

    @property
    def trace_id(self) -> str | None:
        """The id of the task's trace (32 hex digits), for operators; None for a task without one."""
        return trace_id_of(self.trace_context)

    def to_doc(self) -> dict[str, Any]:
        """JSON-safe dict for storage and wire."""
        return self.model_dump(mode="json")


class Page(BaseModel):
    """One page of a keyset-paginated listing; `next_cursor` is None on the last page."""

    items: list[Task]
    next_cursor: str | None = None


class User(BaseModel):
    user_id: str
    created_at: datetime
    last_accessed: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
