"""The watermark and merge config models the gateway and the workers both run; no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from mediacraft.shared.config_errors import InvalidConfig
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.merge import parse_merge_config, validate_merge_config
from mediacraft.shared.tasks import InputFile, MediaInfo
from mediacraft.shared.watermark import (
    MAX_REGIONS,
    InvalidRegions,
    WatermarkConfig,
    parse_watermark_config,
    validate_watermark_config,
)

MEDIA = MediaInfo(width=640, height=360, frame_count=300)


def code_of(config: Any, media: MediaInfo | None = MEDIA) -> str:
    with pytest.raises(InvalidInput) as caught:
        validate_watermark_config(config, media)
    return caught.value.code


def test_a_valid_config_comes_out_normalised_with_unset_optionals_left_out() -> None:
    assert validate_watermark_config({"regions": [[10, 10, 100, 50]], "method": "Speed"}, MEDIA) == {
        "regions": [[10, 10, 100, 50]],
        "method": "delogo",
    }
    stored = validate_watermark_config(
        {"regions": [[10, 10, 100, 50]], "selected_frame": 5, "inpaint_radius": 4, "method": "quality"}, MEDIA
    )
    assert stored == {"regions": [[10, 10, 100, 50]], "method": "auto", "selected_frame": 5, "inpaint_radius": 4}
    assert parse_watermark_config(stored).normalized() == stored  # what the worker reads back is the same


@pytest.mark.parametrize("config", [{}, {"regions": "auto"}, {"regions": " AUTO", "selected_frame": 3}])
def test_regions_left_out_or_auto_are_left_to_detection(config: dict[str, object]) -> None:
    stored = validate_watermark_config(config, MEDIA)
    assert "regions" not in stored and stored["method"] == "auto"
    parsed = parse_watermark_config(stored)
    assert parsed.detect and parsed.regions is None
    assert parsed.normalized() == stored


def test_regions_crossing_an_edge_are_clipped_and_those_off_the_frame_refused() -> None:
    assert validate_watermark_config({"regions": [[600, -5, 100, 50]]}, MEDIA)["regions"] == [[600, 0, 40, 45]]
    with pytest.raises(InvalidRegions) as caught:
        validate_watermark_config({"regions": [[700, 10, 50, 50]]}, MEDIA)
    assert caught.value.message == "Region [700, 10, 50, 50] is outside the 640x360 frame"
    assert caught.value.data == {"frame": {"width": 640, "height": 360}}


@pytest.mark.parametrize(
    "config",
    [
        {"regions": []},
        {"regions": [[1, 2, 3]]},
        {"regions": [[1, 2, 3, 4]], "method": "blur"},
        {"regions": [[1, 2, 3, 4]], "extra": 1},
        {"regions": "all"},
        [1, 2],
        {"regions": [[1.5, 2, 3, 4]]},
        {"regions": [[True, 2, 3, 4]]},
        {"regions": [["1", 2, 3, 4]]},
        {"regions": [[0, 0, 0, 10]]},
        {"regions": [[1, 1, 5, 5]], "inpaint_radius": 16},
        {"regions": [[1, 1, 5, 5]], "selected_frame": "7"},
        {"regions": [[1, 1, 5, 5]] * (MAX_REGIONS + 1)},
    ],
)
def test_malformed_configs_are_invalid_config(config: Any) -> None:
    assert code_of(config) == "invalid_config"


def test_a_refusal_says_where_and_lists_every_problem() -> None:
    with pytest.raises(InvalidConfig) as caught:
        parse_watermark_config({"regions": [[1, 2, 3, 4]], "method": "blur", "extra": 1})
    assert caught.value.message.startswith("Invalid config: method: Input should be")
    assert caught.value.data is not None and len(caught.value.data["errors"]) == 2


def test_whole_number_floats_are_pixels_and_the_frame_limits_apply() -> None:
    assert parse_watermark_config({"regions": [[1.0, 2, 3, 4]]}).regions == [(1, 2, 3, 4)]
    assert code_of({"regions": [[1, 1, 5, 5]], "selected_frame": 300}) == "invalid_config"
    assert code_of({"regions": [[1, 1, 5, 5]]}, MediaInfo(format_name="mp3")) == "invalid_config"
    assert code_of({"regions": [[1, 1, 5, 5]]}, None) == "invalid_config"


def test_the_model_is_frozen_so_a_fitted_copy_leaves_the_original() -> None:
    config = WatermarkConfig(regions=[(-5, -5, 10, 10)])
    fitted = config.fit_to_frame(100, 100)
    assert (config.regions, fitted.regions) == ([(-5, -5, 10, 10)], [(0, 0, 5, 5)])


def _clip(name: str, media: MediaInfo | None = MEDIA) -> InputFile:
    return InputFile(key=f"uploads/u/t/{name}", original_name=name, size=1, media=media)


def test_merge_order_defaults_to_upload_order_and_must_be_a_permutation() -> None:
    clips = [_clip("a.mp4"), _clip("b.mp4"), _clip("c.mp4")]
    assert validate_merge_config({}, clips) == {"order": [0, 1, 2]}
    assert validate_merge_config({"order": [2, 0, 1]}, clips) == {"order": [2, 0, 1]}
    for bad in ({"order": [0, 0, 1]}, {"order": [0, 1]}, {"order": "reverse"}, {"colour": 1}, [0, 1]):
        with pytest.raises(InvalidConfig):
            validate_merge_config(bad, clips)
    assert parse_merge_config({"order": [1, 0]}).order_for(2) == [1, 0]


def test_a_merge_input_without_video_is_named() -> None:
    with pytest.raises(InvalidConfig, match=r"Input 2 \(b.mp3\) has no video to merge"):
        validate_merge_config({}, [_clip("a.mp4"), _clip("b.mp3", MediaInfo(format_name="mp3"))])
