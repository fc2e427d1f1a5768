"""What each task type needs: how many input files, and the config it accepts.

Configs are validated against the probed media of the inputs (regions must touch the frame), and
come out normalised, so that the same request always yields the same stored config (and the same
duplicate fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.generation import validate_generation_config
from mediacraft.shared.tasks import InputFile, TaskType

MAX_REGIONS = 32


@dataclass(frozen=True)
class InputRule:
    min_files: int
    max_files: int

    @property
    def takes_files(self) -> bool:
        return self.max_files > 0


def input_rule(task_type: TaskType, merge_max_inputs: int) -> InputRule:
    """How many uploaded files a task of this type needs before it can be submitted."""
    if task_type is TaskType.WATERMARK_REMOVAL:
        return InputRule(1, 1)
    if task_type is TaskType.VIDEO_MERGE:
        return InputRule(2, merge_max_inputs)
    return InputRule(0, 0)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WatermarkConfig(_Config):
    regions: list[tuple[int, int, int, int]] = Field(min_length=1, max_length=MAX_REGIONS)
    selected_frame: int | None = Field(default=None, ge=0)
    # quality/speed are the product's words for the two methods
    method: Literal["inpaint", "delogo", "quality", "speed"] = "inpaint"
    inpaint_radius: int | None = Field(default=None, ge=1, le=15)

    @field_validator("method")
    @classmethod
    def _alias(cls, method: str) -> str:
        return {"quality": "inpaint", "speed": "delogo"}.get(method, method)

    @field_validator("regions")
    @classmethod
    def _positive(cls, regions: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        for _x, _y, w, h in regions:
            if w < 1 or h < 1:
                raise ValueError("each region needs a width and height of at least 1 pixel")
        return regions


class MergeConfig(_Config):
    # A permutation of the uploaded inputs' positions; the upload order when absent.
    order: list[int] | None = None


CONFIG_MODELS: dict[TaskType, type[_Config]] = {
    TaskType.WATERMARK_REMOVAL: WatermarkConfig,
    TaskType.VIDEO_MERGE: MergeConfig,
}


def parse_task_type(value: Any) -> TaskType:
    """The task type named by a client, or 422 unknown_task_type."""
    try:
        return TaskType(value)
    except (ValueError, TypeError):
        names = ", ".join(t.value for t in TaskType)
        raise ApiError("unknown_task_type", f"Unknown task type; expected one of: {names}") from None


def validate_config(task_type: TaskType, config: Any, inputs: list[InputFile], *, merge_max_inputs: int) -> dict[str, Any]:
    """The normalised config for `task_type` over `inputs`, or an ApiError saying what is wrong."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ApiError("invalid_config", "The config must be a JSON object")
    rule = input_rule(task_type, merge_max_inputs)
    if len(inputs) < rule.min_files:
        need = "a file" if rule.min_files == 1 else f"at least {rule.min_files} files"
        raise ApiError("upload_required", f"Upload {need} before submitting this task")
    if task_type in (TaskType.IMAGE_GENERATION, TaskType.VIDEO_GENERATION):
        # the same rules the generation worker applies (shared contract), stored as normalised
        try:
            return validate_generation_config(task_type, config)
        except InvalidInput as exc:
            raise ApiError(exc.code, exc.message, status=422) from None
    try:
        model = CONFIG_MODELS[task_type].model_validate(config)
    except ValidationError as exc:
        raise ApiError("invalid_config", _first_error(exc), data={"errors": _errors(exc)}) from None
    if isinstance(model, WatermarkConfig):
        return _watermark(model, inputs[0])
    if isinstance(model, MergeConfig):
        return _merge(model, inputs)
    return model.model_dump(mode="json", exclude_none=True)


def _watermark(cfg: WatermarkConfig, source: InputFile) -> dict[str, Any]:
    media = source.media
    if media is None or not media.width or not media.height:
        raise ApiError("invalid_config", "The uploaded file has no video frames to clean")
    regions = []
    for x, y, w, h in cfg.regions:
        # Clip to the frame: a box drawn a pixel past the edge is fine, one off the frame is not.
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(media.width, x + w), min(media.height, y + h)
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ApiError(
                "invalid_regions",
                f"Region {[x, y, w, h]} is outside the {media.width}x{media.height} frame",
                data={"frame": {"width": media.width, "height": media.height}},
            )
        regions.append([x0, y0, x1 - x0, y1 - y0])
    if cfg.selected_frame is not None and media.frame_count and cfg.selected_frame >= media.frame_count:
        raise ApiError("invalid_config", f"selected_frame is past the last frame ({media.frame_count - 1})")
    out: dict[str, Any] = {"regions": regions, "method": cfg.method}
    if cfg.selected_frame is not None:
        out["selected_frame"] = cfg.selected_frame
    if cfg.inpaint_radius is not None:
        out["inpaint_radius"] = cfg.inpaint_radius
    return out


def _merge(cfg: MergeConfig, inputs: list[InputFile]) -> dict[str, Any]:
    for i, item in enumerate(inputs):
        if item.media is None or not item.media.width:
            raise ApiError("invalid_config", f"Input {i + 1} ({item.original_name}) has no video to merge")
    order = cfg.order if cfg.order is not None else list(range(len(inputs)))
    if sorted(order) != list(range(len(inputs))):
        raise ApiError("invalid_config", f"order must list each of the {len(inputs)} inputs once (0-based)")
    return {"order": order}


def estimate_seconds(task_type: TaskType, inputs: list[InputFile], config: dict[str, Any], per_media_second: float) -> float | None:
    """A first ETA from the media's duration, until a worker reports its own."""
    if task_type is TaskType.VIDEO_GENERATION:
        return round(float(config.get("duration_seconds", 5.0)) * per_media_second * 4, 1)
    total = sum(i.media.duration for i in inputs if i.media is not None and i.media.duration)
    return round(total * per_media_second, 1) if total else None


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    return f"Invalid config: {where}: {err['msg']}"
