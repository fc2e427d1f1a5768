"""Root test configuration: service fixtures come from tests/fixtures as plugins, and every test
is marked by the folder it lives in (unit, integration, e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

# the contract suites live outside test_*.py files: rewrite their asserts for readable failures
pytest.register_assert_rewrite("tests.contracts")

pytest_plugins = [
    "tests.fixtures.rabbit",
    "tests.fixtures.seaweed",
    "tests.fixtures.mongo",
    "tests.fixtures.drill_broker",
    "tests.fixtures.drill_report",
    "tests.fixtures.exit_guard",
    "tests.fixtures.tracing",
]

_HERE = Path(__file__).parent
_FOLDER_MARKS = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            folder = Path(str(item.fspath)).relative_to(_HERE).parts[0]
        except ValueError:
            continue
        mark = _FOLDER_MARKS.get(folder)
        if mark is not None:
            item.add_marker(mark)
