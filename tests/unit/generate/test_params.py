"""Generation parameters: what is accepted, how it is normalised, and the codes of what is not."""

from __future__ import annotations

from typing import Any

import pytest

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.generation import (
    ImageParams,
    VideoParams,
    parse_params,
    validate_generation_config,
)
from mediacraft.shared.tasks import TaskType

IMAGE = TaskType.IMAGE_GENERATION
VIDEO = TaskType.VIDEO_GENERATION


def rejected(task_type: Any, config: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_generation_config(task_type, config)
    return caught.value


def test_image_defaults_are_filled_and_the_prompt_trimmed() -> None:
    assert validate_generation_config(IMAGE, {"prompt": "  a red fox \n"}) == {
        "prompt": "a red fox",
        "width": 1024,
        "height": 1024,
        "count": 1,
    }


def test_video_config_is_normalised_to_canonical_names() -> None:
    out = validate_generation_config(
        "video_generation",
        {
            "prompt": "waves",
            "size": "640x360",
            "duration": 3,
            "fps": 30,
            "seed": 7,
            "style": "vivid",
        },
    )
    assert out == {
        "prompt": "waves",
        "width": 640,
        "height": 360,
        "duration_seconds": 3.0,
        "fps": 30,
        "seed": 7,
        "style": "vivid",
    }
    # what the worker receives back from the task is accepted as it is, unchanged
    assert validate_generation_config(VIDEO, out) == out


def test_multi_line_prompts_keep_their_lines() -> None:
    assert parse_params(IMAGE, {"prompt": "line one\r\nline two\tend"}).prompt == "line one\nline two\tend"


@pytest.mark.parametrize(
    ("task_type", "config", "code", "words"),
    [
        (IMAGE, {"prompt": "   "}, "invalid_prompt", "empty"),
        (IMAGE, {}, "invalid_prompt", "prompt"),
        (IMAGE, {"prompt": "x" * 2001}, "invalid_prompt", "at most 2000"),
        (IMAGE, {"prompt": "bell\x07"}, "invalid_prompt", "control character (U+0007)"),
        (IMAGE, {"prompt": "spoof\u202etxt.exe"}, "invalid_prompt", "U+202E"),
        (IMAGE, {"prompt": 42}, "invalid_prompt", "prompt"),
        (IMAGE, {"prompt": "ok", "negative_prompt": "\x00"}, "invalid_prompt", "negative_prompt"),
        (IMAGE, {"prompt": "ok", "width": 4096}, "invalid_size", "width"),
        (IMAGE, {"prompt": "ok", "height": 10}, "invalid_size", "height"),
        (IMAGE, {"prompt": "ok", "size": "big"}, "invalid_size", "WIDTHxHEIGHT"),
        (IMAGE, {"prompt": "ok", "size": "512x512", "width": 640}, "invalid_size", "contradicts"),
        (VIDEO, {"prompt": "ok", "width": 641}, "invalid_size", "even"),
        (VIDEO, {"prompt": "ok", "height": 1440}, "invalid_size", "height"),
        (IMAGE, {"prompt": "ok", "count": 5}, "invalid_count", "count"),
        (IMAGE, {"prompt": "ok", "count": 0}, "invalid_count", "count"),
        (VIDEO, {"prompt": "ok", "duration_seconds": 31}, "invalid_duration", "duration"),
        (VIDEO, {"prompt": "ok", "duration": 0.5}, "invalid_duration", "duration"),
        (VIDEO, {"prompt": "ok", "fps": 120}, "invalid_fps", "fps"),
        (IMAGE, {"prompt": "ok", "seed": -1}, "invalid_seed", "seed"),
        (IMAGE, {"prompt": "ok", "seed": 2**32}, "invalid_seed", "seed"),
        (IMAGE, {"prompt": "ok", "style": "baroque"}, "invalid_style", "natural, vivid, pastel, mono"),
        (IMAGE, {"prompt": "ok", "duration_seconds": 3}, "unknown_parameter", "duration_seconds"),
        (IMAGE, {"prompt": "ok", "regions": []}, "unknown_parameter", "regions"),
        (IMAGE, ["prompt"], "invalid_generation_config", "JSON object"),
        (TaskType.VIDEO_MERGE, {"prompt": "ok"}, "unsupported_task_type", "not a generation"),
        ("painting", {"prompt": "ok"}, "unsupported_task_type", "not a generation"),
    ],
)
def test_bad_settings_fail_with_a_stable_code_and_a_readable_message(
    task_type: Any, config: Any, code: str, words: str
) -> None:
    error = rejected(task_type, config)
    assert error.code == code
    assert words in error.message
    assert "Value error" not in error.message and "pydantic" not in error.message


def test_the_seed_is_the_one_asked_for_or_stable_per_task() -> None:
    assert parse_params(IMAGE, {"prompt": "fox", "seed": 11}).effective_seed("t1") == 11
    unseeded = parse_params(IMAGE, {"prompt": "fox"})
    first = unseeded.effective_seed("t1")
    assert first == unseeded.effective_seed("t1")  # a retry of the task renders the same picture
    assert first != unseeded.effective_seed("t2")  # another task with the same prompt does not
    assert 0 <= first < 2**32


def test_the_models_know_their_kind_and_frame_count() -> None:
    assert ImageParams(prompt="a").kind == "image"
    video = VideoParams(prompt="a", duration_seconds=2.5, fps=24)
    assert (video.kind, video.frame_count) == ("video", 60)
