"""The store contract against MongoDB (real or mongomock, as the header says), plus its layout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from mediacraft.shared.adapters.factory import make_store
from mediacraft.shared.adapters.store.mongo import MongoStore, database_name
from mediacraft.shared.clock import FakeClock

# the contract's asserts live outside a test module: have pytest explain their failures too
pytest.register_assert_rewrite("tests.contracts.store")

from tests.contracts.store import T0, StoreContract, make_task  # noqa: E402
from tests.fixtures.mongo import MongoTarget  # noqa: E402


class TestMongoStore(StoreContract):
    @pytest.fixture
    def make_store(self, mongo_target: MongoTarget) -> Any:
        return lambda clock: MongoStore(mongo_target.url, clock=clock, **mongo_target.store_kwargs())


@pytest.fixture
async def store(mongo_target: MongoTarget) -> Any:
    store = make_store(mongo_target.url, clock=FakeClock(T0), **mongo_target.store_kwargs())
    await store.start()
    yield store
    await store.close()


def test_the_database_comes_from_the_url_path() -> None:
    assert database_name("mongodb://db1:27017,db2:27017/tasks_prod?replicaSet=rs0") == "tasks_prod"
    assert database_name("mongodb://127.0.0.1:27017") == "mediacraft"
    assert database_name("mongodb://u:p@127.0.0.1:27017/?authSource=admin") == "mediacraft"


async def test_start_creates_the_query_indexes(store: MongoStore, mongo_target: MongoTarget) -> None:
    assert store.database == mongo_target.database
    await store.start()  # a second start must not fail on existing indexes
    indexes = await store._task_collection().index_information()
    keys = {tuple(field for field, _ in spec["key"]) for spec in indexes.values()}
    assert {
        ("user_id", "_us.created_at", "task_id"),
        ("user_id", "status"),
        ("user_id", "fingerprint", "_us.created_at"),
        ("status", "_us.queue_order", "task_id"),
    } <= keys


async def test_documents_keep_brief_field_names_and_bson_dates(store: MongoStore) -> None:
    task = await store.insert(make_task(status="queued", submitted_at=T0))
    raw = await store._task_collection().find_one({"_id": task.task_id})
    assert raw["task_id"] == task.task_id and raw["status"] == "queued"
    assert isinstance(raw["created_at"], datetime) and isinstance(raw["submitted_at"], datetime)
    assert raw["_us"]["created_at"] % 1000 == T0.microsecond % 1000  # the part BSON dates drop


pytest.register_assert_rewrite("tests.contracts.projects")
from tests.contracts.projects import ProjectStoreContract  # noqa: E402


class TestMongoProjectStore(ProjectStoreContract):
    @pytest.fixture
    def make_store(self, mongo_target: MongoTarget) -> Any:
        return lambda clock: MongoStore(mongo_target.url, clock=clock, **mongo_target.store_kwargs())
