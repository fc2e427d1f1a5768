"""The sentence a person reads for each stable error and message code, in English and Chinese.

One table (error_texts.json beside this module) serves every reader: services write its English
sentence into task messages and HTTP envelopes where the underlying text is for operators only;
the HTTP services answer in the request's language from it (`pick_lang`, `localized`); and the
web UI receives the whole table inside its i18n.js (as `err.<code>`), so a task's message and the
UI's translation of it never drift apart. Sentences may hold `{name}` placeholders.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
DEFAULT_LANG: Lang = "en"  # API clients that name no language (the CLI, scripts) read English


@cache
def table() -> dict[str, dict[str, str]]:
    """Every code's sentences: {code: {"en": ..., "zh": ...}} (keys starting with `_` are notes)."""
    raw = json.loads(resources.files(__package__).joinpath("error_texts.json").read_text(encoding="utf-8"))
    return {code: texts for code, texts in raw.items() if not code.startswith("_")}


def sentence(code: str, lang: Lang = "en") -> str | None:
    """The sentence for `code`, or None when the table has none."""
    texts = table().get(code)
    return None if texts is None else texts[lang]


def text(code: str, lang: Lang = "en", **params: object) -> str:
    """The sentence for a code the table is known to hold, with its placeholders filled."""
    found = table()[code][lang]
    return found.format(**params) if params else found


@cache
def _code_of_english() -> dict[str, str]:
    found: dict[str, str] = {}
    for code, texts in sorted(table().items()):
        found.setdefault(texts["en"].rstrip("."), code)
    return found


def code_of_sentence(english: str) -> str | None:
    """The code whose English sentence this is (a service wrote it), or None."""
    return _code_of_english().get(english.strip().rstrip("."))


def localized(code: str | None, lang: Lang, given: str) -> str:
    """What a person reads for an error: in English the sentence the code site wrote (it may name
    the limit or the field), in any other language the table's sentence for the code; `given` when
    the table lacks the code."""
    if lang == "en" or code is None:
        return given
    return sentence(code, lang) or given


_TAG = re.compile(r"^\s*([A-Za-z]{1,8})(?:[-_][A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def pick_lang(*choices: str | None) -> Lang:
    """The language to answer in: the first choice that names one we speak. Each choice is a
    plain name ("zh", "en-GB") or an Accept-Language value ("zh-CN,zh;q=0.9,en;q=0.8"), read by
    its q weights."""
    for choice in choices:
        found = _best_of(choice) if choice else None
        if found is not None:
            return found
    return DEFAULT_LANG


def _best_of(header: str) -> Lang | None:
    ranked: list[tuple[float, int, Lang]] = []
    for i, part in enumerate(header.split(",")[:32]):
        m = _TAG.match(part)
        if m is None:
            continue
        try:
            weight = float(m.group(2)) if m.group(2) else 1.0
        except ValueError:
            continue
        primary = m.group(1).lower()
        lang: Lang | None = "zh" if primary == "zh" else "en" if primary == "en" else None
        if weight > 0 and lang is not None:
            ranked.append((-weight, i, lang))
    return min(ranked)[2] if ranked else None


def table_json() -> str:
    """The table as compact JSON, for the web UI."""
    return json.dumps(table(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
