"""Config validation per task type, against the probed media of the inputs."""

from __future__ import annotations

import pytest

from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.task_config import estimate_seconds, input_rule, parse_task_type, validate_config
from mediacraft.shared.tasks import InputFile, MediaInfo, TaskType

VIDEO = InputFile(
    key="k",
    original_name="a.mp4",
    size=10,
    media=MediaInfo(format_name="mp4", width=640, height=360, duration=10.0, frame_rate=30.0, frame_count=300),
)


def check(task_type: TaskType, config: object, inputs: list[InputFile] | None = None) -> dict:
    return validate_config(task_type, config, [VIDEO] if inputs is None else inputs, merge_max_inputs=5)


def code_of(task_type: TaskType, config: object, inputs: list[InputFile] | None = None) -> str:
    with pytest.raises(ApiError) as err:
        check(task_type, config, inputs)
    return err.value.code


def test_watermark_regions_inside_the_frame_are_kept() -> None:
    cfg = check(TaskType.WATERMARK_REMOVAL, {"regions": [[10, 10, 100, 50]], "selected_frame": 5})
    assert cfg == {"regions": [[10, 10, 100, 50]], "method": "auto", "selected_frame": 5}


@pytest.mark.parametrize(
    "config", [{}, {"regions": "auto"}, {"regions": "Auto", "method": "quality"}, {"method": "auto"}]
)
def test_watermark_regions_left_out_or_auto_are_stored_without_regions(config: dict[str, object]) -> None:
    assert check(TaskType.WATERMARK_REMOVAL, config) == {"method": "auto"}


@pytest.mark.parametrize(
    ("method", "stored"),
    [("quality", "auto"), ("auto", "auto"), ("inpaint", "inpaint"), ("speed", "delogo"), ("delogo", "delogo")],
)
def test_watermark_method_words_of_the_product_are_accepted(method: str, stored: str) -> None:
    cfg = check(TaskType.WATERMARK_REMOVAL, {"regions": [[10, 10, 100, 50]], "method": method, "inpaint_radius": 5})
    assert (cfg["method"], cfg["inpaint_radius"]) == (stored, 5)


def test_watermark_inpaint_radius_is_bounded() -> None:
    assert (
        code_of(TaskType.WATERMARK_REMOVAL, {"regions": [[10, 10, 100, 50]], "inpaint_radius": 99}) == "invalid_config"
    )


def test_watermark_regions_crossing_an_edge_are_clipped_to_the_frame() -> None:
    cfg = check(TaskType.WATERMARK_REMOVAL, {"regions": [[600, -5, 100, 50]], "method": "delogo"})
    assert cfg["regions"] == [[600, 0, 40, 45]]


@pytest.mark.parametrize("region", [[700, 10, 50, 50], [-100, 10, 50, 50], [10, 400, 10, 10], [0, 0, 0, 10]])
def test_watermark_regions_outside_the_frame_are_refused(region: list[int]) -> None:
    expected = "invalid_config" if 0 in region[2:] else "invalid_regions"
    assert code_of(TaskType.WATERMARK_REMOVAL, {"regions": [region]}) == expected


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
    ],
)
def test_malformed_watermark_configs_are_refused(config: object) -> None:
    assert code_of(TaskType.WATERMARK_REMOVAL, config) == "invalid_config"


def test_selected_frame_past_the_end_is_refused() -> None:
    assert code_of(TaskType.WATERMARK_REMOVAL, {"regions": [[1, 1, 5, 5]], "selected_frame": 300}) == "invalid_config"


def test_a_config_before_the_upload_asks_for_the_file() -> None:
    assert code_of(TaskType.WATERMARK_REMOVAL, {"regions": [[1, 1, 5, 5]]}, []) == "upload_required"
    assert code_of(TaskType.VIDEO_MERGE, {}, [VIDEO]) == "upload_required"


def test_merge_order_defaults_to_upload_order_and_must_be_a_permutation() -> None:
    assert check(TaskType.VIDEO_MERGE, {}, [VIDEO, VIDEO, VIDEO]) == {"order": [0, 1, 2]}
    assert check(TaskType.VIDEO_MERGE, {"order": [2, 0, 1]}, [VIDEO, VIDEO, VIDEO]) == {"order": [2, 0, 1]}
    assert code_of(TaskType.VIDEO_MERGE, {"order": [0, 0]}, [VIDEO, VIDEO]) == "invalid_config"


def test_generation_configs_need_a_prompt_and_get_defaults() -> None:
    cfg = check(TaskType.IMAGE_GENERATION, {"prompt": "a cat"}, [])
    assert (cfg["prompt"], cfg["width"], cfg["height"], cfg["count"]) == ("a cat", 1024, 1024, 1)
    assert code_of(TaskType.VIDEO_GENERATION, {"prompt": ""}, []) == "invalid_prompt"
    assert code_of(TaskType.VIDEO_GENERATION, {"prompt": "x", "duration_seconds": 600}, []) == "invalid_duration"
    assert code_of(TaskType.VIDEO_GENERATION, {"prompt": "x", "width": 641}, []) == "invalid_size"
    assert code_of(TaskType.IMAGE_GENERATION, {"prompt": "x", "colour": "red"}, []) == "unknown_parameter"


def test_input_rules_per_type() -> None:
    assert (
        input_rule(TaskType.WATERMARK_REMOVAL, 5).min_files,
        input_rule(TaskType.WATERMARK_REMOVAL, 5).max_files,
    ) == (1, 1)
    assert input_rule(TaskType.VIDEO_MERGE, 5).max_files == 5
    assert not input_rule(TaskType.IMAGE_GENERATION, 5).takes_files


@pytest.mark.parametrize("value", ["upscale", "", None, 3, {"$ne": None}])
def test_unknown_task_types_are_refused(value: object) -> None:
    with pytest.raises(ApiError) as err:
        parse_task_type(value)
    assert err.value.code == "unknown_task_type" and err.value.status == 422


def test_the_first_eta_comes_from_the_media_duration() -> None:
    assert estimate_seconds(TaskType.VIDEO_MERGE, [VIDEO, VIDEO], {}, 0.5) == 10.0
    assert estimate_seconds(TaskType.IMAGE_GENERATION, [], {}, 1.0) is None
