"""The chat-completions script provider: an OpenAI-compatible endpoint writes the script.

Request (`POST <MEDIACRAFT_SCRIPT_HTTP_ENDPOINT>`, e.g. `https://api.openai.com/v1/chat/completions`,
redirects never followed):

    Authorization: Bearer <MEDIACRAFT_SCRIPT_HTTP_API_KEY>     (when a key is set)
    Content-Type: application/json

    {"model": "<MEDIACRAFT_SCRIPT_HTTP_MODEL>", "temperature": 0.7,
     "response_format": {"type": "json_object"},
     "messages": [{"role": "system", "content": "...the JSON shape asked for..."},
                  {"role": "user", "content": "...title, topic, length, language, style..."}]}

The answer's `choices[0].message.content` must be a JSON object (a ```json fence around it is
tolerated) with `scenes`: a list of 1-40 objects with `narration`, `shot` and `duration_seconds`
(a positive number). Durations are rescaled to sum exactly to the target length, since models
are poor at arithmetic; anything else missing or of the wrong type makes the answer unreadable.

- An unreadable answer is asked for once more at once; a second one fails the task with a plain
  message (`script_unreadable`, not retried on the schedule).
- 408, 425, 429 (busy) and 5xx, a timeout, a refused or broken connection, a redirect: retryable,
  on the task's schedule. A `Retry-After` in seconds is kept on the error (`delay`).
- 401/403 (our key) and 404/405 (our address): retryable, an operator has to fix the settings.
- Any other 4xx: the request was refused; the task fails at once with the service's reason.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.scripts import MAX_SCENES, Scene, Script, ScriptParams, fit_durations
from mediacraft.worker_generate.providers.http import _reason, _retry_after, _wait
from mediacraft.worker_generate.scripts.base import ScriptRequest, ScriptUnreadable, writing_scene

_BUSY = frozenset({408, 425, 429})
_AUTH = frozenset({401, 403})
_ADDRESS = frozenset({404, 405})
_MAX_ANSWER_BYTES = 1024 * 1024
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese"}
SYSTEM_PROMPT = (
    "You write scripts for short videos. Answer with one JSON object and nothing else, of the form "
    '{"scenes": [{"narration": "...", "shot": "...", "duration_seconds": 8}]}. '
    "Each scene has the narration spoken over it, a description of the shot to film or show, and "
    "its duration in seconds; the durations add up to the requested length."
)


class ScriptBackendUnavailable(RetryableError):
    code = "script_backend_unavailable"


class ScriptBackendTimeout(RetryableError):
    code = "script_backend_timeout"


class ScriptBackendBusy(RetryableError):
    code = "script_backend_busy"


class ScriptBackendError(RetryableError):
    code = "script_backend_error"


class ScriptBackendMisconfigured(RetryableError):
    code = "script_backend_misconfigured"


class ScriptRejected(InvalidInput):
    code = "script_rejected"


class _Unreadable(Exception):
    """One answer that is not a script; `reason` says why, for the log and the final message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatScriptProvider:
    """Asks an OpenAI-compatible chat-completions endpoint for the script; see the module docstring."""

    name = "http"

    def __init__(
        self,
        endpoint: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": "mediacraft-worker-generate/0.1"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def write(self, request: ScriptRequest) -> Script:
        """Ask for the script; one more time at once when the first answer cannot be read."""
        request.report(0.0, "preparing")
        reason = ""
        for _ in range(2):
            request.report(0.05, "waiting for the language model")
            content = _wait(
                lambda stop: self._call(request.params),
                cancel_event=request.cancel_event,
                deadline=time.monotonic() + self.timeout,
                on_timeout=lambda: ScriptBackendTimeout(f"The script service did not answer within {self.timeout:g} s"),
            )
            try:
                rows = parse_scenes(content)
            except _Unreadable as exc:
                reason = exc.reason
                continue
            return self._script(request, rows)
        raise ScriptUnreadable(
            f"The language model's answer could not be read as a script, twice ({reason}); start again later"
        )

    def _script(self, request: ScriptRequest, rows: list[tuple[str, str, float]]) -> Script:
        params = request.params
        durations = fit_durations([seconds for _, _, seconds in rows], params.target_seconds)
        scenes = []
        for number, ((narration, shot, _), seconds) in enumerate(zip(rows, durations, strict=True), start=1):
            request.report(0.1 + 0.9 * (number - 1) / len(rows), writing_scene(number, len(rows)))
            scenes.append(Scene(number=number, narration=narration, shot=shot, duration_seconds=seconds))
        request.report(1.0, "script ready")
        return Script(
            title=params.title,
            language=params.language,
            style=params.style,
            total_seconds=float(params.target_seconds),
            scenes=scenes,
            provider=self.name,
            model=self.model,
        )

    def _call(self, params: ScriptParams) -> str:
        try:
            response = self._client.post(self.endpoint, json=wire_body(params, self.model))
        except httpx.TimeoutException:
            raise ScriptBackendTimeout(f"The script service did not answer within {self.timeout:g} s") from None
        except httpx.ConnectError:
            raise ScriptBackendUnavailable("The script service could not be reached") from None
        except httpx.TransportError as exc:
            raise ScriptBackendUnavailable(
                f"The connection to the script service broke off ({type(exc).__name__})"
            ) from None
        _check_status(response)
        return _content(response)


def wire_body(params: ScriptParams, model: str) -> dict[str, Any]:
    """The chat-completions request for a brief."""
    ask = (
        f"Title: {params.title}\nTopic: {params.topic}\nLength: {params.target_seconds} seconds\n"
        f"Language of the narration and shots: {LANGUAGE_NAMES.get(params.language, params.language)}\n"
        f"Style: {params.style}"
    )
    return {
        "model": model,
        "temperature": 0.7,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": ask}],
    }


def parse_scenes(content: str) -> list[tuple[str, str, float]]:
    """(narration, shot, seconds) of each scene in the model's answer, or _Unreadable."""
    fenced = _FENCE.match(content)
    try:
        doc = json.loads(fenced.group(1) if fenced else content)
    except ValueError:
        raise _Unreadable("not JSON") from None
    scenes = doc.get("scenes") if isinstance(doc, dict) else None
    if not isinstance(scenes, list) or not scenes:
        raise _Unreadable("no scenes")
    if len(scenes) > MAX_SCENES:
        raise _Unreadable(f"more than {MAX_SCENES} scenes")
    rows = []
    for number, scene in enumerate(scenes, start=1):
        if not isinstance(scene, dict):
            raise _Unreadable(f"scene {number} is not an object")
        narration, shot = scene.get("narration"), scene.get("shot")
        seconds = scene.get("duration_seconds", scene.get("duration"))
        if not isinstance(narration, str) or not narration.strip() or not isinstance(shot, str) or not shot.strip():
            raise _Unreadable(f"scene {number} lacks its narration or shot")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 3600:
            raise _Unreadable(f"scene {number} has no usable duration")
        rows.append((narration.strip()[:2000], shot.strip()[:1000], float(seconds)))
    return rows


def _content(response: httpx.Response) -> str:
    raw = response.content[: _MAX_ANSWER_BYTES + 1]
    if len(raw) > _MAX_ANSWER_BYTES:
        raise ScriptBackendError("The script service sent an answer larger than 1 MiB")
    try:
        doc = json.loads(raw)
        content = doc["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str):
        return ""  # read as an unreadable answer: asked for once more
    return content


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status == 200:
        return
    if status < 400:
        raise ScriptBackendError(f"The script service answered HTTP {status}, which this protocol does not use")
    reason = _reason(response)
    suffix = f": {reason}" if reason else ""
    if status in _AUTH:
        raise ScriptBackendMisconfigured(
            f"The script service refused this server's credentials (HTTP {status}); an operator must check the key"
        )
    if status in _ADDRESS:
        raise ScriptBackendMisconfigured(
            f"The script service has no such endpoint (HTTP {status}); an operator must check its address"
        )
    if status in _BUSY:
        raise ScriptBackendBusy(f"The script service is busy (HTTP {status}){suffix}", delay=_retry_after(response))
    if status < 500:
        raise ScriptRejected(f"The script service refused the request{suffix or f' (HTTP {status})'}")
    raise ScriptBackendError(f"The script service failed (HTTP {status}){suffix}", delay=_retry_after(response))
