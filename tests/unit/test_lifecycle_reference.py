"""docs/interop.md shows the task state machine generated from the table the stores enforce."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_state_machine_in_interop_md_is_current() -> None:
    spec = importlib.util.spec_from_file_location("lifecycle_reference", ROOT / "scripts" / "lifecycle_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document = (ROOT / "docs" / "interop.md").read_text()
    assert module.updated(document) == document, (
        "docs/interop.md is out of date: run `python scripts/lifecycle_reference.py`"
    )
    section = module.render()
    assert section in document
    assert "queued --> processing: dispatch (scheduler)" in section
    assert "| `expire_draft` | created, uploaded | expired | cleanup |" in section
