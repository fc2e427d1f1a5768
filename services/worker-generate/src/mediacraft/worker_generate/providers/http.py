"""The HTTP provider: one POST to a generation service per job, under a small JSON protocol.

Request (`POST <MEDIACRAFT_GENERATE_HTTP_ENDPOINT>`, redirects never followed):

    Authorization: Bearer <MEDIACRAFT_GENERATE_HTTP_API_KEY>     (when a key is set)
    Idempotency-Key: <task_id>:<attempt>
    Accept: image/png, image/jpeg, image/webp, video/mp4, video/webm, application/json
    Content-Type: application/json

    {"protocol": 1, "kind": "image" | "video", "prompt": "...", "negative_prompt": "...",
     "width": 1024, "height": 768, "seed": 42, "style": "vivid",
     "count": 2,                          # images only
     "duration": 5.0, "fps": 24,          # video only
     "task_id": "...", "attempt": 1}

Answers:

- 200/201 with a media type (image/png, image/jpeg, image/webp for images; video/mp4, video/webm
  for videos) and the file as the body: valid when exactly one file was asked for.
- 200/201 with `application/json`: `{"items": [{"content_type": "image/png", "data": "<base64>"},
  ...], "info": {"model": "..."}}` with exactly as many items as asked for. Items carry their
  content; an item with only a URL is refused: MediaCraft never fetches what a backend points to.
  Scalar fields of `info` (at most 10, strings cut to 200 characters) land in the result info as
  `backend`.
- 4xx about the request (400, 413, 422 and any other not listed below): `InvalidInput`
  (`generation_rejected`), the task fails at once with the backend's reason, read from JSON
  `error.message`, `error`, `message`, `detail` or `reason`, or a short text body.
- 401/403 (our key), 404/405 (our address): retryable, an operator has to fix the settings.
- 408, 425, 429 (busy; `Retry-After` honoured as the delay) and 5xx: retryable.
- A timeout (`MEDIACRAFT_GENERATE_HTTP_TIMEOUT_SECONDS`, connect to last byte), a refused or
  broken connection, a redirect, or a body that breaks the protocol: retryable.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.generation import ImageParams, VideoParams
from mediacraft.shared.worker.contract import JobCancelledError
from mediacraft.worker_generate.providers.base import GeneratedFile, Generation, GenerationRequest

PROTOCOL_VERSION = 1
MEDIA_TYPES: dict[str, dict[str, str]] = {
    "image": {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"},
    "video": {"video/mp4": ".mp4", "video/webm": ".webm"},
}
ACCEPT = ", ".join([*MEDIA_TYPES["image"], *MEDIA_TYPES["video"], "application/json"])
_AUTH_STATUSES = frozenset({401, 403})
_ADDRESS_STATUSES = frozenset({404, 405})
_BUSY_STATUSES = frozenset({408, 425, 429})
_REASON_CHARS = 300
_REASON_BYTES = 16384
_POLL = 0.05
_T = TypeVar("_T")


class BackendUnavailable(RetryableError):
    code = "generation_backend_unavailable"


class BackendTimeout(RetryableError):
    code = "generation_backend_timeout"


class BackendError(RetryableError):
    """The backend answered 5xx, or busy, or with a body that breaks the protocol."""

    code = "generation_backend_error"


class BackendBusy(RetryableError):
    code = "generation_backend_busy"


class BackendMisconfigured(RetryableError):
    """Our key or address is wrong: not the person's fault, and an operator can fix it in time."""

    code = "generation_backend_misconfigured"


class BadBackendResponse(RetryableError):
    code = "generation_bad_response"


class GenerationRejected(InvalidInput):
    code = "generation_rejected"


class _Stopped(Exception):
    """The waiting side gave up (cancel or timeout): the request thread drops what it has."""


class HttpProvider:
    """Calls a generation service over HTTP; see the module docstring for the protocol."""

    name = "http"

    def __init__(
        self,
        endpoint: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_response_bytes: int = 512 * 1024**2,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        headers = {"Accept": ACCEPT, "User-Agent": "mediacraft-worker-generate/0.1"}
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

    def generate(self, request: GenerationRequest) -> Generation:
        """POST the request and write what the backend returns under `request.outdir`."""
        request.outdir.mkdir(parents=True, exist_ok=True)
        request.report(0.0, "waiting for the generation service")
        files, backend = _wait(
            lambda stop: self._call(request, stop),
            cancel_event=request.cancel_event,
            deadline=time.monotonic() + self.timeout,
            on_timeout=lambda: BackendTimeout(f"The generation service did not answer within {self.timeout:g} s"),
        )
        request.report(1.0, "received")
        info: dict[str, Any] = {"provider": self.name}
        if backend:
            info["backend"] = backend
        return Generation(files=files, info=info)

    # --- the request thread ---------------------------------------------------------------------

    def _call(self, request: GenerationRequest, stop: threading.Event) -> tuple[list[GeneratedFile], dict[str, Any]]:
        headers = {"Idempotency-Key": f"{request.task_id}:{request.attempt}"}
        try:
            with self._client.stream("POST", self.endpoint, json=wire_body(request), headers=headers) as response:
                _check_status(response)
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type == "application/json":
                    return self._json_items(request, self._read_all(response, stop))
                return [self._single(request, response, content_type, stop)], {}
        except httpx.TimeoutException:
            raise BackendTimeout(f"The generation service did not answer within {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            cause = " (connection refused)" if "refused" in str(exc).lower() else ""
            raise BackendUnavailable(f"The generation service could not be reached{cause}") from None
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"The connection to the generation service broke off ({type(exc).__name__})"
            ) from None

    def _single(
        self, request: GenerationRequest, response: httpx.Response, content_type: str, stop: threading.Event
    ) -> GeneratedFile:
        ext = MEDIA_TYPES[request.kind].get(content_type)
        if ext is None:
            raise BadBackendResponse(
                f"The generation service sent {content_type or 'no content type'}, not {_a(request.kind)}"
            )
        if request.expected_files != 1:
            raise BadBackendResponse(f"The generation service sent one file; {request.expected_files} were asked for")
        path = request.outdir / f"{request.kind}-1{ext}"
        written = 0
        with open(path, "wb") as out:
            for chunk in response.iter_bytes():
                if stop.is_set():
                    raise _Stopped()
                written += len(chunk)
                if written > self.max_response_bytes:
                    raise BadBackendResponse(f"The generation service sent more than {self.max_response_bytes} bytes")
                out.write(chunk)
        if written == 0:
            raise BadBackendResponse("The generation service sent an empty file")
        return GeneratedFile(path, content_type)

    def _read_all(self, response: httpx.Response, stop: threading.Event) -> bytes:
        # base64 is a third larger than the media it carries
        limit = self.max_response_bytes * 4 // 3 + 4096
        body = bytearray()
        for chunk in response.iter_bytes():
            if stop.is_set():
                raise _Stopped()
            body += chunk
            if len(body) > limit:
                raise BadBackendResponse(f"The generation service sent more than {self.max_response_bytes} bytes")
        return bytes(body)

    def _json_items(self, request: GenerationRequest, body: bytes) -> tuple[list[GeneratedFile], dict[str, Any]]:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadBackendResponse("The generation service sent JSON that cannot be read") from None
        items = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(items, list) or not items:
            raise BadBackendResponse("The generation service's answer has no items")
        if len(items) != request.expected_files:
            raise BadBackendResponse(
                f"The generation service sent {len(items)} files; {request.expected_files} were asked for"
            )
        files = []
        for number, item in enumerate(items, start=1):
            files.append(self._decode_item(request, number, item))
        return files, _backend_info(doc.get("info"))

    def _decode_item(self, request: GenerationRequest, number: int, item: Any) -> GeneratedFile:
        if not isinstance(item, dict):
            raise BadBackendResponse("The generation service sent an item that is not an object")
        data = item.get("data")
        if not isinstance(data, str):
            if "url" in item:
                raise BadBackendResponse(
                    "The generation service sent a link instead of the file; links are not fetched"
                )
            raise BadBackendResponse("The generation service sent an item without data")
        content_type = str(item.get("content_type", "")).lower()
        ext = MEDIA_TYPES[request.kind].get(content_type)
        if ext is None:
            raise BadBackendResponse(
                f"The generation service sent {content_type or 'no content type'}, not {_a(request.kind)}"
            )
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadBackendResponse("The generation service sent data that is not valid base64") from None
        if not raw:
            raise BadBackendResponse("The generation service sent an empty file")
        path = request.outdir / f"{request.kind}-{number}{ext}"
        path.write_bytes(raw)
        return GeneratedFile(path, content_type)


def wire_body(request: GenerationRequest) -> dict[str, Any]:
    """The JSON body of protocol version 1 for `request`."""
    params = request.params
    body: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "kind": params.kind,
        "prompt": params.prompt,
        "width": params.width,
        "height": params.height,
        "seed": request.seed,
        "task_id": request.task_id,
        "attempt": request.attempt,
    }
    if params.negative_prompt is not None:
        body["negative_prompt"] = params.negative_prompt
    if params.style is not None:
        body["style"] = params.style
    if isinstance(params, ImageParams):
        body["count"] = params.count
    if isinstance(params, VideoParams):
        body["duration"] = params.duration_seconds
        body["fps"] = params.fps
    return body


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status in (200, 201):
        return
    if status < 400:  # 1xx leftovers, 202/204 without content, redirects: never followed
        raise BackendError(f"The generation service answered HTTP {status}, which this protocol does not use")
    reason = _reason(response)
    suffix = f": {reason}" if reason else ""
    if status in _AUTH_STATUSES:
        raise BackendMisconfigured(
            f"The generation service refused this server's credentials (HTTP {status}); an operator must check"
            " the API key"
        )
    if status in _ADDRESS_STATUSES:
        raise BackendMisconfigured(
            f"The generation service has no such endpoint (HTTP {status}); an operator must check its address"
        )
    if status in _BUSY_STATUSES:
        raise BackendBusy(f"The generation service is busy (HTTP {status}){suffix}", delay=_retry_after(response))
    if 400 <= status < 500:
        raise GenerationRejected(f"The generation service refused the request{suffix or f' (HTTP {status})'}")
    raise BackendError(f"The generation service failed (HTTP {status}){suffix}", delay=_retry_after(response))


def _reason(response: httpx.Response) -> str:
    """The backend's own words for an error, cleaned up for a person to read."""
    raw = b""
    try:
        for chunk in response.iter_bytes():
            raw += chunk
            if len(raw) >= _REASON_BYTES:  # an error page may be huge; its first lines say why
                break
    except httpx.HTTPError:
        return ""
    raw = raw[:_REASON_BYTES]
    content_type = response.headers.get("content-type", "").lower()
    text = raw.decode("utf-8", "replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            text = _reason_from_json(json.loads(text))
        except ValueError:
            pass
    elif "html" in content_type:
        return ""  # an error page: its markup says nothing a person can use
    return _clean(text)


def _reason_from_json(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    error = doc.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        return message
    for key in ("error", "message", "detail", "reason"):
        value = doc.get(key)
        if isinstance(value, str):
            return value
        first = value[0] if isinstance(value, list) and value else None
        msg = first.get("msg") if isinstance(first, dict) else None
        if isinstance(msg, str):
            return msg  # FastAPI's validation errors
    return ""


def _clean(text: str) -> str:
    text = re.sub(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]+", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def _a(kind: str) -> str:
    return "an image" if kind == "image" else "a video"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _backend_info(info: Any) -> dict[str, Any]:
    if not isinstance(info, dict):
        return {}
    kept: dict[str, Any] = {}
    for key, value in list(info.items())[:10]:
        if isinstance(value, bool | int | float):
            kept[str(key)[:50]] = value
        elif isinstance(value, str):
            kept[str(key)[:50]] = _clean(value)[:200]
    return kept


def _wait(
    call: Callable[[threading.Event], _T],
    *,
    cancel_event: threading.Event,
    deadline: float,
    on_timeout: Callable[[], Exception],
) -> _T:
    """Run `call` on a helper thread; give up at once on cancel or at the deadline.

    A synchronous HTTP request cannot be interrupted from outside, and a backend may think for
    minutes before the first byte: waiting for it here would hold a cancelled job that long. The
    helper thread is told to stop (`stop` is checked between chunks) and otherwise ends at the
    client's own timeouts; whatever it still writes is removed with the job's directory.
    """
    value: list[_T] = []  # one item, or none when `call` raised
    error: list[BaseException] = []
    done = threading.Event()
    stop = threading.Event()

    def run() -> None:
        try:
            value.append(call(stop))
        except BaseException as exc:  # handed to the waiting thread below
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="generate-http", daemon=True).start()
    while not done.wait(_POLL):
        if cancel_event.is_set():
            stop.set()
            raise JobCancelledError("the job was cancelled")
        if time.monotonic() >= deadline:
            stop.set()
            raise on_timeout()
    if error:
        raise error[0]
    return value[0]
