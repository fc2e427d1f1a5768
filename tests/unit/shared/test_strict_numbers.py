"""Config models take JSON numbers only: a boolean or a numeric string is refused, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from mediacraft.shared.config_errors import InvalidConfig
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.generation import VideoParams, parse_params
from mediacraft.shared.merge import parse_merge_config
from mediacraft.shared.watermark import parse_watermark_config


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"regions": [[True, False, True, True]], "selected_frame": False}, "regions.0.0"),
        ({"regions": [[1, 1, 5, 5]], "selected_frame": False}, "selected_frame"),
        ({"regions": [[1, 1, 5, 5]], "selected_frame": "3"}, "selected_frame"),
        ({"regions": [[1, 1, "5", 5]]}, "regions.0.2"),
        ({"regions": [[1, 1, 5, 5]], "inpaint_radius": True}, "inpaint_radius"),
        ({"regions": [[1, 1, 5, 5]], "inpaint_radius": "3"}, "inpaint_radius"),
    ],
)
def test_watermark_refuses_booleans_and_numeric_strings(config: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        parse_watermark_config(config)
    assert caught.value.code == "invalid_config"
    assert caught.value.message.startswith(f"Invalid config: {where}: must be ")
    assert "Value error" not in caught.value.message


@pytest.mark.parametrize(
    ("order", "where"), [([True, False], "order.0"), ([1, "0"], "order.1"), (["1", "0"], "order.0")]
)
def test_merge_refuses_booleans_and_numeric_strings(order: list[Any], where: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        parse_merge_config({"order": order})
    assert caught.value.message.startswith(f"Invalid config: {where}: must be a whole number")


@pytest.mark.parametrize(
    ("task_type", "config", "code", "field"),
    [
        ("image_generation", {"prompt": "a", "width": True}, "invalid_size", "width"),
        ("image_generation", {"prompt": "a", "height": "512"}, "invalid_size", "height"),
        ("image_generation", {"prompt": "a", "count": True}, "invalid_count", "count"),
        ("image_generation", {"prompt": "a", "seed": "42"}, "invalid_seed", "seed"),
        ("image_generation", {"prompt": "a", "seed": False}, "invalid_seed", "seed"),
        ("video_generation", {"prompt": "a", "duration": True}, "invalid_duration", "duration"),
        ("video_generation", {"prompt": "a", "duration_seconds": "5"}, "invalid_duration", "duration_seconds"),
        ("video_generation", {"prompt": "a", "fps": "24"}, "invalid_fps", "fps"),
    ],
)
def test_generation_refuses_booleans_and_numeric_strings(
    task_type: str, config: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_params(task_type, config)
    assert caught.value.code == code
    assert caught.value.message.startswith(f"Invalid generation settings: {field}: must be ")


def test_numbers_are_still_numbers() -> None:
    video = parse_params("video_generation", {"prompt": "a", "duration": 2, "fps": 12, "seed": 0})
    assert isinstance(video, VideoParams)
    assert (video.duration_seconds, video.fps, video.seed) == (2.0, 12, 0)
    longer = parse_params("video_generation", {"prompt": "a", "duration": 2.5})
    assert isinstance(longer, VideoParams) and longer.duration_seconds == 2.5
    assert parse_merge_config({"order": [1, 0]}).order == [1, 0]
    assert parse_watermark_config({"regions": [[0, 0, 5, 5]], "selected_frame": 0}).selected_frame == 0
