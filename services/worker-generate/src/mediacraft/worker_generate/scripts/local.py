"""The offline script provider: a structured script from the brief alone, with no language model.

It splits the target length into an opening, body scenes and a closing, sized by how much each
has to say, and writes each scene's narration and shot from the title, topic and style. The script
says plainly that no model wrote it (`made_without_model`, `note`), so nobody mistakes it for one.
Scenes are written one after the other, `scene_seconds` apart, so a screen can show them arrive.
"""

from __future__ import annotations

import re

from mediacraft.shared.scripts import Scene, Script, ScriptParams, fit_durations, scene_count
from mediacraft.worker_generate.scripts.base import ScriptRequest, writing_scene

NOTE = {
    "en": "Written offline from the brief by MediaCraft's local writer, without a language model.",
    "zh": "由 MediaCraft 本地撰写器根据简介离线生成，未使用语言模型。",
}
_TEXT = {
    "en": {
        "open": "{title}. In the next {seconds} seconds: {point}.",
        "body": "Part {n}: {point}.",
        "close": "That was {title}. Thanks for watching.",
        "shot_open": 'Title card: "{title}" over a {style} establishing shot.',
        "shot_body": "{style} b-roll illustrating: {point}.",
        "shot_close": 'Closing card with the title "{title}", {style} tone.',
    },
    "zh": {
        "open": "{title}。接下来的 {seconds} 秒：{point}。",
        "body": "第 {n} 部分：{point}。",
        "close": "以上就是{title}。感谢观看。",
        "shot_open": "片头字幕「{title}」，{style}风格的全景镜头。",
        "shot_body": "{style}风格的空镜，表现：{point}。",
        "shot_close": "片尾字幕「{title}」，{style}基调。",
    },
}


# The default style, as a Chinese script names it (a person's own style word is kept as written).
_STYLE_WORDS = {"zh": {"informative": "科普"}}


class LocalScriptProvider:
    """Writes scripts offline; see the module docstring."""

    name = "local"

    def __init__(self, *, scene_seconds: float = 0.5) -> None:
        self.scene_seconds = scene_seconds

    def write(self, request: ScriptRequest) -> Script:
        """A script of `scene_count(target)` scenes from the brief."""
        params = request.params
        texts = _TEXT[params.language]
        style = _STYLE_WORDS.get(params.language, {}).get(params.style, params.style)
        total = scene_count(params.target_seconds)
        points = _points(params.topic, total - 2)
        lines: list[tuple[str, str]] = [
            (texts["open"].format(title=params.title, seconds=params.target_seconds, point=points[0]),
             texts["shot_open"].format(title=params.title, style=style)),
        ]  # fmt: skip
        for n, point in enumerate(points, start=1):
            lines.append((texts["body"].format(n=n, point=point), texts["shot_body"].format(style=style, point=point)))
        closing = texts["shot_close"].format(title=params.title, style=style)
        lines.append((texts["close"].format(title=params.title), closing))
        # a scene lasts about as long as its narration takes to say, with the opening and closing short
        durations = fit_durations([max(4.0, len(narration)) for narration, _ in lines], params.target_seconds)
        scenes = []
        for number, ((narration, shot), seconds) in enumerate(zip(lines, durations, strict=True), start=1):
            request.check_cancelled()
            request.report((number - 1) / total, writing_scene(number, total))
            scenes.append(Scene(number=number, narration=narration, shot=shot, duration_seconds=seconds))
            if self.scene_seconds > 0 and request.cancel_event.wait(self.scene_seconds):
                request.check_cancelled()
        request.report(1.0, "script ready")
        return _script(params, scenes, self.name)

    def close(self) -> None:
        """Nothing to release."""


def _script(params: ScriptParams, scenes: list[Scene], provider: str) -> Script:
    return Script(
        title=params.title,
        language=params.language,
        style=params.style,
        total_seconds=float(params.target_seconds),
        scenes=scenes,
        provider=provider,
        made_without_model=True,
        note=NOTE[params.language],
    )


def _points(topic: str, count: int) -> list[str]:
    """`count` talking points from the topic: its sentences or clauses, repeated as needed."""
    parts = [p.strip() for p in re.split(r"[.!?;。！？；\n]+", topic) if p.strip()]
    if len(parts) < count:
        parts += [p.strip() for p in re.split(r"[,，、]+", topic) if p.strip() and p.strip() not in parts]
    parts = parts or [topic.strip()]
    return [_short(parts[i % len(parts)]) for i in range(count)]


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
