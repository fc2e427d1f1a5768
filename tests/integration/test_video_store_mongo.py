"""The video store contract against MongoDB (real or mongomock, as the report header says)."""

from __future__ import annotations

from typing import Any

import pytest

from mediacraft.shared.adapters.store.mongo import MongoStore

pytest.register_assert_rewrite("tests.contracts.video_store")

from tests.contracts.video_store import VideoStoreContract  # noqa: E402
from tests.fixtures.mongo import MongoTarget  # noqa: E402


class TestMongoVideoStore(VideoStoreContract):
    @pytest.fixture
    def make_store(self, mongo_target: MongoTarget) -> Any:
        return lambda clock: MongoStore(mongo_target.url, clock=clock, **mongo_target.store_kwargs())
