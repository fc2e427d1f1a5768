"""Generation parameters: what a person may ask for, validated the same way at submit and in the worker.

`validate_generation_config(task_type, config)` is pure (no I/O): the gateway may call it when a
task is submitted and store what it returns as the task's config, which is kept for every retry;
the worker parses that config again with `parse_params` before it calls a provider, so a config
that reached the queue some other way still fails at once with the same stable code.

Fields (JSON, in the task's config):

| field              | image              | video                         |
|--------------------|--------------------|-------------------------------|
| `prompt`           | 1..2000 chars after trimming; no control characters except newline and tab, no bidi overrides |
| `negative_prompt`  | optional, same rules                                |
| `width`, `height`  | 64..2048, default 1024x1024 | width 64..1920, height 64..1080, both even, default 1280x720 |
| `size`             | optional shorthand `"WxH"`; may not contradict `width`/`height` |
| `count`            | 1..4, default 1    | -                             |
| `duration_seconds` | -                  | 1..30 s, default 5 (alias `duration`) |
| `fps`              | -                  | 1..60, default 24             |
| `seed`             | optional 0..2^32-1; absent: derived from the task id and prompt, so a retry reproduces it |
| `style`            | optional: natural, vivid, pastel, mono              |

Error codes (InvalidInput.code): invalid_prompt, invalid_size, invalid_count, invalid_duration,
invalid_fps, invalid_seed, invalid_style, unknown_parameter, invalid_generation_config,
unsupported_task_type.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.numbers import Number, Whole
from mediacraft.shared.tasks import TaskType

PROMPT_MAX_CHARS = 2000
MAX_SEED = 2**32 - 1
STYLES = ("natural", "vivid", "pastel", "mono")
# Explicit directional overrides and isolates let a prompt display as something other than it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ALLOWED_CONTROLS = frozenset("\n\t")
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def _clean_prompt(value: str) -> str:
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValueError("the prompt is empty")
    if len(text) > PROMPT_MAX_CHARS:
        raise ValueError(f"the prompt has {len(text)} characters; at most {PROMPT_MAX_CHARS} are allowed")
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise ValueError(f"the prompt contains a control character (U+{ord(char):04X})")
    return text


Prompt = Annotated[str, AfterValidator(_clean_prompt)]
Style = Literal["natural", "vivid", "pastel", "mono"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[Literal["image", "video"]]

    prompt: Prompt
    negative_prompt: Prompt | None = None
    seed: Whole | None = Field(default=None, ge=0, le=MAX_SEED)
    style: Style | None = None
    width: Whole
    height: Whole

    @model_validator(mode="before")
    @classmethod
    def _size_shorthand(cls, data: Any) -> Any:
        """`size: "WxH"` sets width and height; it may not contradict them."""
        if not isinstance(data, dict) or "size" not in data:
            return data
        data = dict(data)
        size = data.pop("size")
        match = _SIZE.match(size) if isinstance(size, str) else None
        if match is None:
            raise ValueError("size: write the size as WIDTHxHEIGHT, for example 1024x768")
        width, height = int(match.group(1)), int(match.group(2))
        for name, value in (("width", width), ("height", height)):
            if name in data and data[name] != value:
                raise ValueError(f"size: {size!r} contradicts {name}={data[name]!r}")
            data[name] = value
        return data

    def effective_seed(self, task_id: str) -> int:
        """The seed to render with: the one asked for, else one derived from the task and prompt."""
        if self.seed is not None:
            return self.seed
        digest = hashlib.sha256(f"{task_id}\n{self.prompt}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def normalized(self) -> dict[str, Any]:
        """The config to store on the task: every field by its canonical name, unset optionals left out."""
        return self.model_dump(mode="json", exclude_none=True)


class ImageParams(_Params):
    """One or a few still images."""

    kind: ClassVar[Literal["image", "video"]] = "image"

    width: Whole = Field(default=1024, ge=64, le=2048)
    height: Whole = Field(default=1024, ge=64, le=2048)
    count: Whole = Field(default=1, ge=1, le=4)


class VideoParams(_Params):
    """One short silent video (H.264 in MP4, yuv420p: hence even sides)."""

    kind: ClassVar[Literal["image", "video"]] = "video"

    width: Whole = Field(default=1280, ge=64, le=1920)
    height: Whole = Field(default=720, ge=64, le=1080)
    # Two accepted names (clients send "duration"): the plugin cannot type a dynamic alias in __init__,
    # and code builds these models only by validation.
    duration_seconds: Number = Field(  # type: ignore[pydantic-alias]
        default=5.0, ge=1.0, le=30.0, validation_alias=AliasChoices("duration_seconds", "duration")
    )
    fps: Whole = Field(default=24, ge=1, le=60)

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"{value} is odd; video sides must be even numbers")
        return value

    @property
    def frame_count(self) -> int:
        """Frames in the video at its frame rate (at least one)."""
        return max(1, round(self.duration_seconds * self.fps))


GenerationParams = ImageParams | VideoParams

PARAMS_OF_TYPE: dict[TaskType, type[ImageParams] | type[VideoParams]] = {
    TaskType.IMAGE_GENERATION: ImageParams,
    TaskType.VIDEO_GENERATION: VideoParams,
}

_CODE_OF_FIELD = {
    "prompt": "invalid_prompt",
    "negative_prompt": "invalid_prompt",
    "width": "invalid_size",
    "height": "invalid_size",
    "size": "invalid_size",
    "count": "invalid_count",
    "duration_seconds": "invalid_duration",
    "duration": "invalid_duration",
    "fps": "invalid_fps",
    "seed": "invalid_seed",
    "style": "invalid_style",
}


def parse_params(task_type: TaskType | str | None, config: Any) -> GenerationParams:
    """The validated parameters of a generation task, or InvalidInput with a stable code."""
    try:
        kind = TaskType(task_type) if task_type is not None else None
    except ValueError:
        kind = None
    model = PARAMS_OF_TYPE.get(kind) if kind is not None else None
    if model is None:
        raise InvalidInput(f"{task_type!r} is not a generation task type", code="unsupported_task_type")
    if not isinstance(config, dict):
        raise InvalidInput("The generation settings must be a JSON object", code="invalid_generation_config")
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise _invalid(exc) from None


def validate_generation_config(task_type: TaskType | str, config: Any) -> dict[str, Any]:
    """Validate and normalise a generation config at submit; raises InvalidInput with a stable code."""
    return parse_params(task_type, config).normalized()


def _invalid(exc: ValidationError) -> InvalidInput:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        names = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"}))
        return InvalidInput(f"Unknown generation setting: {names}", code="unknown_parameter")
    field = loc[0] if loc else ""
    if not field and message.startswith("size:"):
        field = "size"
    code = _CODE_OF_FIELD.get(field, "invalid_generation_config")
    where = f"{field}: " if field and not message.startswith(f"{field}:") else ""
    if field == "style":
        message = f"choose one of {', '.join(STYLES)}"
    elif error["type"] == "missing":
        message = "this setting is required"
    return InvalidInput(f"Invalid generation settings: {where}{message}", code=code)
