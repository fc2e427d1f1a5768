"""Watermark removal settings: what a person may ask for, validated the same way at submit and in the worker.

`validate_watermark_config(config, media)` is pure (no I/O): the gateway calls it when a task is
submitted, with the media it probed at upload, and stores what it returns as the task's config.
The worker parses that config again with `parse_watermark_config` and fits it to the frame it
probed itself (`WatermarkConfig.fit_to_frame`), so a config that reached the queue some other way
fails at once with the same stable code.

Fields (JSON, in the task's config):

- `regions`: 1..32 boxes `[x, y, w, h]` in source frame pixels (whole numbers, w and h >= 1); or
  omitted / `"auto"`: the worker detects the watermark itself.
- `method`: `auto` (default: per region, recover a translucent mark, fill from other frames, or
  inpaint), `inpaint` (OpenCV TELEA) or `delogo` (ffmpeg); the product's words are aliases:
  `quality` means `auto`, `speed` means `delogo`.
- `inpaint_radius`: optional 1..15 (where inpainting is used; the worker's default otherwise).
- `selected_frame`: optional frame number the regions were picked on (0 or more, before the last frame).

A region partly outside the frame is clipped to it; one entirely outside is refused. With regions
omitted the stored config has no `regions` key; a task where detection finds nothing fails with the
non-retryable code `no_watermark_found`.

Error codes (InvalidInput.code): invalid_config (the shape of the config: unknown field, method,
radius, selected frame, a region's form or size, too many regions, media without frames),
invalid_regions (a region that misses the frame; `data.frame` names the frame's size).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediacraft.shared.config_errors import InvalidConfig, parse_config
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.numbers import Whole
from mediacraft.shared.tasks import MediaInfo

MAX_REGIONS = 32
MAX_RADIUS = 15  # TELEA's cost grows with the square of the radius
Method = Literal["auto", "inpaint", "delogo", "quality", "speed"]
AUTO: Method = "auto"
INPAINT: Method = "inpaint"
DELOGO: Method = "delogo"
METHODS: tuple[Method, ...] = (AUTO, INPAINT, DELOGO)
METHOD_ALIASES: dict[Method, Method] = {"quality": AUTO, "speed": DELOGO}
AUTO_REGIONS = "auto"  # `"regions": "auto"` is the same as leaving regions out
NO_WATERMARK_FOUND = "no_watermark_found"  # the error code of a task whose detection found nothing


class InvalidRegions(InvalidInput):
    """A region that cannot be applied to this video's frame."""

    code = "invalid_regions"

    def __init__(self, message: str, *, width: int, height: int) -> None:
        super().__init__(message)
        self.data = {"frame": {"width": width, "height": height}}


Box = tuple[Whole, Whole, Whole, Whole]


class WatermarkConfig(BaseModel):
    """The settings of one watermark removal task (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: list[Box] | None = Field(default=None, min_length=1, max_length=MAX_REGIONS)
    selected_frame: Whole | None = Field(default=None, ge=0)
    method: Method = AUTO
    inpaint_radius: Whole | None = Field(default=None, ge=1, le=MAX_RADIUS)

    @field_validator("method", mode="before")
    @classmethod
    def _lower(cls, method: Any) -> Any:
        return method.strip().lower() if isinstance(method, str) else method

    @field_validator("method")
    @classmethod
    def _alias(cls, method: Method) -> Method:
        return METHOD_ALIASES.get(method, method)

    @field_validator("regions", mode="before")
    @classmethod
    def _auto(cls, regions: Any) -> Any:
        if isinstance(regions, str) and regions.strip().lower() == AUTO_REGIONS:
            return None
        return regions

    @field_validator("regions")
    @classmethod
    def _positive(cls, regions: list[tuple[int, int, int, int]] | None) -> list[tuple[int, int, int, int]] | None:
        for _x, _y, w, h in regions or ():
            if w < 1 or h < 1:
                raise ValueError("each region needs a width and height of at least 1 pixel")
        return regions

    @property
    def detect(self) -> bool:
        """True when the regions are left to detection (omitted or `"auto"`)."""
        return self.regions is None

    def fit_to_frame(self, width: int | None, height: int | None, frame_count: int | None = None) -> WatermarkConfig:
        """The same config with every region clipped to a `width` x `height` frame.

        A box drawn a pixel past the edge is fine, one off the frame is not (InvalidRegions); a
        selected frame past the last one is an InvalidConfig.
        """
        if not width or not height:
            raise InvalidConfig("The uploaded file has no video frames to clean")
        if self.selected_frame is not None and frame_count and self.selected_frame >= frame_count:
            raise InvalidConfig(f"selected_frame is past the last frame ({frame_count - 1})")
        if self.regions is None:
            return self
        regions = []
        for x, y, w, h in self.regions:
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(width, x + w), min(height, y + h)
            if x1 - x0 < 1 or y1 - y0 < 1:
                raise InvalidRegions(
                    f"Region {[x, y, w, h]} is outside the {width}x{height} frame", width=width, height=height
                )
            regions.append((x0, y0, x1 - x0, y1 - y0))
        return self.model_copy(update={"regions": regions})

    def normalized(self) -> dict[str, Any]:
        """The config to store on the task: regions as lists, unset optionals left out."""
        out: dict[str, Any] = {"method": self.method}
        if self.regions is not None:
            out["regions"] = [list(r) for r in self.regions]
        if self.selected_frame is not None:
            out["selected_frame"] = self.selected_frame
        if self.inpaint_radius is not None:
            out["inpaint_radius"] = self.inpaint_radius
        return out


def parse_watermark_config(config: Any) -> WatermarkConfig:
    """The validated settings of a watermark task, or InvalidConfig with pydantic's first complaint."""
    return parse_config(WatermarkConfig, config)


def validate_watermark_config(config: Any, media: MediaInfo | None) -> dict[str, Any]:
    """Validate a config at submit against the uploaded video's probed media; the config to store."""
    parsed = parse_watermark_config(config)
    if media is None:
        raise InvalidConfig("The uploaded file has no video frames to clean")
    return parsed.fit_to_frame(media.width, media.height, media.frame_count).normalized()
