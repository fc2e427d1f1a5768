"""Video scripts: the config of a `video_script` task and the script it produces.

The gateway validates a project's brief into `ScriptParams` when it starts a script task; the
generation pool's script processor parses the same model. A script is an ordered list of scenes,
each with narration, a shot description and a duration; the durations sum to the target length
(`fit_durations` makes them, in tenths of a second).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mediacraft.shared.errors import InvalidInput

MIN_TARGET_SECONDS = 5
MAX_TARGET_SECONDS = 600
MAX_SCENES = 40
LANGUAGES = ("en", "zh")
_TENTHS = 10


class ScriptParams(BaseModel):
    """What a script is written from: the project's brief as it was when generation started."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    project_id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    topic: str = Field(min_length=1, max_length=4000)
    target_seconds: int = Field(default=60, ge=MIN_TARGET_SECONDS, le=MAX_TARGET_SECONDS)
    language: str = "en"
    style: str = Field(default="informative", min_length=1, max_length=60)
    # names this run, so that asking again for the same brief is a new task, not a duplicate
    run_id: str = Field(min_length=1, max_length=64)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.lower()
        if value not in LANGUAGES:
            raise ValueError(f"choose one of {', '.join(LANGUAGES)}")
        return value


class Scene(BaseModel):
    """One scene of a script."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1)
    narration: str = Field(min_length=1, max_length=2000)
    shot: str = Field(min_length=1, max_length=1000)
    duration_seconds: float = Field(gt=0)


class Script(BaseModel):
    """A finished script: scenes in order, whose durations sum to `total_seconds`."""

    model_config = ConfigDict(frozen=True)

    title: str
    language: str
    style: str
    total_seconds: float
    scenes: list[Scene] = Field(min_length=1, max_length=MAX_SCENES)
    provider: str
    model: str | None = None
    made_without_model: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _adds_up(self) -> Script:
        total = sum(round(scene.duration_seconds * _TENTHS) for scene in self.scenes)
        if total != round(self.total_seconds * _TENTHS):
            raise ValueError("the scene durations do not add up to the script's length")
        if [scene.number for scene in self.scenes] != list(range(1, len(self.scenes) + 1)):
            raise ValueError("the scenes must be numbered 1, 2, 3, ... in order")
        return self


def parse_script_params(config: Any) -> ScriptParams:
    """The validated brief of a script task, or InvalidInput naming the field (code invalid_script_config)."""
    if not isinstance(config, dict):
        raise InvalidInput("The script settings must be a JSON object", code="invalid_script_config")
    try:
        return ScriptParams.model_validate(config)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"Invalid script settings: {field}: {message}", code="invalid_script_config") from None


def validate_script_config(config: Any) -> dict[str, Any]:
    """The normalised config of a script task (stored as the task's config)."""
    return parse_script_params(config).model_dump(mode="json")


def scene_count(target_seconds: float) -> int:
    """How many scenes suit a length: about one every ten seconds, 3 at least."""
    return max(3, min(MAX_SCENES, round(target_seconds / 10)))


def fit_durations(weights: list[float], target_seconds: float) -> list[float]:
    """Durations in tenths of a second, proportional to `weights`, summing exactly to the target."""
    if not weights or any(w <= 0 for w in weights):
        raise ValueError("every scene needs a positive weight")
    total = round(target_seconds * _TENTHS)
    if total < len(weights):
        raise ValueError("the target is too short for that many scenes")
    whole = sum(weights)
    # at least a tenth each; the rest shared by weight, the rounding remainder to the largest shares
    raw = [(total - len(weights)) * w / whole for w in weights]
    tenths = [1 + int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in order[: total - sum(tenths)]:
        tenths[i] += 1
    return [t / _TENTHS for t in tenths]
