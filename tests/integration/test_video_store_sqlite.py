"""The video store contract against SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.adapters.store.sqlite import SqliteStore

pytest.register_assert_rewrite("tests.contracts.video_store")

from tests.contracts.video_store import (  # noqa: E402
    VideoStoreContract,
    test_a_completed_video_result_makes_a_video_named_after_its_final_file,
    test_a_video_is_hidden_with_its_task_and_goes_when_its_files_expire,
    test_only_the_uploads_that_are_videos_make_videos,
)

__all__ = [
    "test_a_completed_video_result_makes_a_video_named_after_its_final_file",
    "test_a_video_is_hidden_with_its_task_and_goes_when_its_files_expire",
    "test_only_the_uploads_that_are_videos_make_videos",
]


class TestSqliteVideoStore(VideoStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Any:
        return lambda clock: SqliteStore(tmp_path / "var" / "tasks.db", clock=clock)
