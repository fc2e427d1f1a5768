"""Merge settings: the order of the clips, validated the same way at submit and in the worker.

`validate_merge_config(config, inputs)` is pure: the gateway calls it at submit with the uploaded
inputs and stores what it returns (`{"order": [...]}`, the upload order when absent). The merge
worker parses it again with `parse_merge_config` and joins the clips in `order_for(count)`.

Error code: invalid_config.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from mediacraft.shared.config_errors import InvalidConfig, parse_config
from mediacraft.shared.numbers import Whole
from mediacraft.shared.tasks import InputFile


class MergeConfig(BaseModel):
    """The settings of one merge task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A permutation of the uploaded inputs' positions (0-based); the upload order when absent.
    order: list[Whole] | None = None

    def order_for(self, count: int) -> list[int]:
        """The positions of `count` inputs in the order to join them, or InvalidConfig."""
        order = self.order if self.order is not None else list(range(count))
        if sorted(order) != list(range(count)):
            raise InvalidConfig(f"order must list each of the {count} inputs once (0-based)")
        return order


def parse_merge_config(config: Any) -> MergeConfig:
    """The validated settings of a merge task, or InvalidConfig."""
    return parse_config(MergeConfig, config)


def validate_merge_config(config: Any, inputs: list[InputFile]) -> dict[str, Any]:
    """Validate a config at submit against the uploaded inputs; the config to store."""
    parsed = parse_merge_config(config)
    for i, item in enumerate(inputs):
        if item.media is None or not item.media.width:
            raise InvalidConfig(f"Input {i + 1} ({item.original_name}) has no video to merge")
    return {"order": parsed.order_for(len(inputs))}
