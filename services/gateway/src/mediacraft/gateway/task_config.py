"""What each task type needs: how many input files, and the config it accepts.

Configs are validated against the probed media of the inputs (regions must touch the frame), and
come out normalised, so that the same request always yields the same stored config (and the same
duplicate fingerprint). The config models live in shared (`mediacraft.shared.watermark`, `.merge`,
`.generation`), so the workers run the very same validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.generation import validate_generation_config
from mediacraft.shared.merge import validate_merge_config
from mediacraft.shared.scripts import validate_script_config
from mediacraft.shared.tasks import InputFile, TaskType
from mediacraft.shared.watermark import validate_watermark_config


@dataclass(frozen=True)
class InputRule:
    min_files: int
    max_files: int

    @property
    def takes_files(self) -> bool:
        return self.max_files > 0


# Task types made by another route, never by /api/tasks/create (a reprocess: POST /api/v1/videos/{id}/run_sync).
NOT_CREATABLE = frozenset({TaskType.VIDEO_REPROCESS})


def input_rule(task_type: TaskType, merge_max_inputs: int) -> InputRule:
    """How many uploaded files a task of this type needs before it can be submitted."""
    if task_type is TaskType.WATERMARK_REMOVAL:
        return InputRule(1, 1)
    if task_type is TaskType.VIDEO_MERGE:
        return InputRule(2, merge_max_inputs)
    return InputRule(0, 0)


def parse_task_type(value: Any) -> TaskType:
    """The task type named by a client, or 422 unknown_task_type."""
    try:
        task_type = TaskType(value)
    except (ValueError, TypeError):
        task_type = None
    if task_type is None or task_type in NOT_CREATABLE:
        names = ", ".join(t.value for t in TaskType if t not in NOT_CREATABLE)
        raise ApiError("unknown_task_type", f"Unknown task type; expected one of: {names}") from None
    return task_type


def validate_config(
    task_type: TaskType, config: Any, inputs: list[InputFile], *, merge_max_inputs: int
) -> dict[str, Any]:
    """The normalised config for `task_type` over `inputs`, or an ApiError saying what is wrong."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ApiError("invalid_config", "The config must be a JSON object")
    rule = input_rule(task_type, merge_max_inputs)
    if len(inputs) < rule.min_files:
        need = "a file" if rule.min_files == 1 else f"at least {rule.min_files} files"
        raise ApiError("upload_required", f"Upload {need} before submitting this task")
    try:
        if task_type is TaskType.WATERMARK_REMOVAL:
            return validate_watermark_config(config, inputs[0].media)
        if task_type is TaskType.VIDEO_MERGE:
            return validate_merge_config(config, inputs)
        if task_type is TaskType.VIDEO_SCRIPT:
            return validate_script_config(config)
        # the same rules the workers apply (shared contracts), stored as normalised
        return validate_generation_config(task_type, config)
    except InvalidInput as exc:
        raise ApiError(exc.code, exc.message, status=422, data=getattr(exc, "data", None)) from None


def estimate_seconds(
    task_type: TaskType, inputs: list[InputFile], config: dict[str, Any], per_media_second: float
) -> float | None:
    """A first ETA from the media's duration, until a worker reports its own."""
    if task_type is TaskType.VIDEO_GENERATION:
        return round(float(config.get("duration_seconds", 5.0)) * per_media_second * 4, 1)
    total = sum(i.media.duration for i in inputs if i.media is not None and i.media.duration)
    return round(total * per_media_second, 1) if total else None
