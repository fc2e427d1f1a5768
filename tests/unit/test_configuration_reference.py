"""docs/configuration.md lists every setting with its default, generated from the Settings classes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("settings_reference", ROOT / "scripts" / "settings_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    assert (ROOT / "docs" / "configuration.md").read_text() == expected, (
        "docs/configuration.md is out of date: run `python scripts/settings_reference.py`"
    )
    assert "MEDIACRAFT_BUS_URL" in expected and "MEDIACRAFT_HTTP_PORT" in expected
