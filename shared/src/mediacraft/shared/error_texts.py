"""The sentence a person reads for each stable error code, in English and Chinese.

One table (error_texts.json beside this module) serves every reader: services write its English
sentence into task messages and HTTP envelopes where the underlying text is for operators only,
and the web UI receives the whole table inside its i18n.js (as `err.<code>`), so a task's message
and the UI's translation of it never drift apart.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")


@cache
def table() -> dict[str, dict[str, str]]:
    """Every code's sentences: {code: {"en": ..., "zh": ...}} (keys starting with `_` are notes)."""
    raw = json.loads(resources.files(__package__).joinpath("error_texts.json").read_text(encoding="utf-8"))
    return {code: texts for code, texts in raw.items() if not code.startswith("_")}


def sentence(code: str, lang: Lang = "en") -> str | None:
    """The sentence for `code`, or None when the table has none."""
    texts = table().get(code)
    return None if texts is None else texts[lang]


def table_json() -> str:
    """The table as compact JSON, for the web UI."""
    return json.dumps(table(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
