"""Booleans and numeric strings where a config wants numbers: 422 naming the field, nothing queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.gateway.client import create, upload
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import settled, snapshot


@pytest.mark.parametrize(
    ("task_type", "files", "config", "code", "where"),
    [
        (
            "watermark_removal",
            1,
            {"regions": [[True, False, True, True]], "selected_frame": False},
            "invalid_config",
            "regions.0.0",
        ),
        (
            "watermark_removal",
            1,
            {"regions": [[1, 1, 9, 9]], "selected_frame": "3"},
            "invalid_config",
            "selected_frame",
        ),
        ("video_merge", 2, {"order": [True, False]}, "invalid_config", "order.0"),
        ("video_merge", 2, {"order": ["1", "0"]}, "invalid_config", "order.0"),
        ("image_generation", 0, {"prompt": "a cat", "width": "512"}, "invalid_size", "width"),
        ("image_generation", 0, {"prompt": "a cat", "count": True}, "invalid_count", "count"),
        ("video_generation", 0, {"prompt": "a cat", "duration": True}, "invalid_duration", "duration"),
        ("video_generation", 0, {"prompt": "a cat", "fps": "24"}, "invalid_fps", "fps"),
    ],
)
async def test_non_numbers_are_refused_and_nothing_is_queued(
    tmp_path: Path, clip: Path, task_type: str, files: int, config: dict[str, Any], code: str, where: str
) -> None:
    async with embedded_gateway(tmp_path) as gw:
        async with gw.client() as c:
            task = await create(c, task_type)
            if files:
                assert (await upload(c, task["task_id"], *([clip] * files))).status_code == 200
            await settled(gw)
            before = await snapshot(gw)
            r = await c.post(f"/api/tasks/{task['task_id']}/config", json=config)
            body = r.json()
            assert (r.status_code, body["code"], body["error_code"]) == (422, 422, code), r.text
            assert where in body["message"] and "must be" in body["message"]
            await settled(gw)
            assert await snapshot(gw) == before
            assert gw.inbox.types() == []
