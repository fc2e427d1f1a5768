"""The HTTP provider against a fake generation service on 127.0.0.1: what is kept, retried or refused."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.generation import parse_params
from mediacraft.shared.worker.contract import JobCancelledError
from mediacraft.worker_generate.providers.base import GenerationRequest
from mediacraft.worker_generate.providers.http import HttpProvider
from tests.fixtures.media import make_clip
from tests.integration.generate.backend import Reply, in_order, json_error, png_bytes
from tests.integration.generate.conftest import BackendFactory

PNG = png_bytes()


@pytest.fixture
def providers() -> Iterator[list[HttpProvider]]:
    made: list[HttpProvider] = []
    yield made
    for provider in made:
        provider.close()


@pytest.fixture
def connect(providers: list[HttpProvider]) -> Any:
    def make(url: str, **options: Any) -> HttpProvider:
        provider = HttpProvider(url, **{"api_key": "secret", "timeout": 5.0, **options})
        providers.append(provider)
        return provider

    return make


def ask(
    tmp_path: Path,
    config: dict[str, Any] | None = None,
    task_type: str = "image_generation",
    cancel: threading.Event | None = None,
) -> GenerationRequest:
    params = parse_params(task_type, config or {"prompt": "a fox in the snow", "width": 64, "height": 64})
    return GenerationRequest(
        params=params,
        seed=1234,
        outdir=tmp_path / "out",
        task_id="task-1",
        attempt=2,
        cancel_event=cancel or threading.Event(),
    )


def test_a_media_answer_is_written_as_sent_and_the_request_follows_the_protocol(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any
) -> None:
    backend = backend_factory(in_order(Reply(body=PNG, content_type="image/png")))
    generation = connect(backend.url).generate(ask(tmp_path, {"prompt": " a fox ", "size": "96x64", "style": "mono"}))
    [item] = generation.files
    assert item.path.read_bytes() == PNG and item.content_type == "image/png"
    assert generation.info == {"provider": "http"}
    [received] = backend.received
    assert received.body == {
        "protocol": 1,
        "kind": "image",
        "prompt": "a fox",
        "width": 96,
        "height": 64,
        "seed": 1234,
        "style": "mono",
        "count": 1,
        "task_id": "task-1",
        "attempt": 2,
    }
    assert received.headers["authorization"] == "Bearer secret"
    assert received.headers["idempotency-key"] == "task-1:2"


def test_a_json_answer_carries_several_images_and_the_backend_info(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any
) -> None:
    pictures = [png_bytes(value=10), png_bytes(value=200)]
    doc = {
        "items": [{"content_type": "image/png", "data": base64.b64encode(p).decode()} for p in pictures],
        "info": {"model": "painter-2", "steps": 30, "nested": {"ignored": True}},
    }
    backend = backend_factory(in_order(Reply(body=json.dumps(doc).encode(), content_type="application/json")))
    generation = connect(backend.url).generate(ask(tmp_path, {"prompt": "two", "count": 2}))
    assert [f.path.read_bytes() for f in generation.files] == pictures
    assert generation.info["backend"] == {"model": "painter-2", "steps": 30}


def test_a_video_request_sends_duration_and_fps_and_keeps_the_mp4(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=160, height=120, duration=1.0, audio=False).read_bytes()
    backend = backend_factory(in_order(Reply(body=clip, content_type="video/mp4")))
    request = ask(
        tmp_path,
        {"prompt": "waves", "width": 160, "height": 120, "duration": 1, "fps": 30},
        task_type="video_generation",
    )
    [item] = connect(backend.url).generate(request).files
    assert item.path.read_bytes() == clip and item.path.suffix == ".mp4"
    body = backend.received[0].body
    assert (body["kind"], body["duration"], body["fps"]) == ("video", 1.0, 30)
    assert "count" not in body


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (json_error(400, "The prompt mentions a real person"), "The prompt mentions a real person"),
        (
            Reply(
                422,
                json.dumps({"detail": [{"loc": ["body", "width"], "msg": "width must be a multiple of 64"}]}).encode(),
                "application/json",
            ),
            "width must be a multiple of 64",
        ),
        (Reply(400, b"prompt too\x1b[31m violent\n", "text/plain"), "prompt too [31m violent"),
        (Reply(413, b"", "text/plain"), "(HTTP 413)"),
    ],
)
def test_a_4xx_about_the_request_is_not_retried_and_says_why(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any, reply: Reply, reason: str
) -> None:
    backend = backend_factory(in_order(reply))
    with pytest.raises(InvalidInput) as caught:
        connect(backend.url).generate(ask(tmp_path))
    assert not isinstance(caught.value, RetryableError)
    assert caught.value.code == "generation_rejected"
    assert caught.value.message.startswith("The generation service refused the request")
    assert reason in caught.value.message


def test_a_5xx_is_retryable_with_the_backend_reason(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any
) -> None:
    backend = backend_factory(in_order(json_error(503, "model is loading")))
    with pytest.raises(RetryableError) as caught:
        connect(backend.url).generate(ask(tmp_path))
    assert caught.value.code == "generation_backend_error"
    assert caught.value.message == "The generation service failed (HTTP 503): model is loading"


def test_a_refused_connection_is_retryable(tmp_path: Path, backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(in_order(Reply(body=PNG)), listening=False)
    with pytest.raises(RetryableError) as caught:
        connect(backend.url).generate(ask(tmp_path))
    assert caught.value.code == "generation_backend_unavailable"
    assert caught.value.message == "The generation service could not be reached (connection refused)"


def test_a_backend_that_does_not_answer_in_time_is_retryable(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any
) -> None:
    backend = backend_factory(in_order(Reply(body=PNG, stall=10)))
    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        connect(backend.url, timeout=0.5).generate(ask(tmp_path))
    assert time.monotonic() - started < 2.5
    assert caught.value.code == "generation_backend_timeout"
    assert caught.value.message == "The generation service did not answer within 0.5 s"


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (429, "generation_backend_busy", "busy"),
        (401, "generation_backend_misconfigured", "API key"),
        (404, "generation_backend_misconfigured", "address"),
    ],
)
def test_busy_and_our_own_misconfiguration_are_retryable(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any, status: int, code: str, words: str
) -> None:
    backend = backend_factory(in_order(Reply(status, b"{}", "application/json", headers={"Retry-After": "7"})))
    with pytest.raises(RetryableError) as caught:
        connect(backend.url).generate(ask(tmp_path))
    assert (caught.value.code, words in caught.value.message) == (code, True)
    if status == 429:
        assert caught.value.delay == 7


def test_links_and_redirects_are_never_followed(tmp_path: Path, backend_factory: BackendFactory, connect: Any) -> None:
    backend = backend_factory(
        in_order(
            Reply(
                body=json.dumps({"items": [{"content_type": "image/png", "url": "http://127.0.0.1:1/x.png"}]}).encode(),
                content_type="application/json",
            ),
            Reply(302, b"", "text/plain", headers={"Location": "/v1/elsewhere"}),
        )
    )
    provider = connect(backend.url)
    with pytest.raises(RetryableError, match="links are not fetched"):
        provider.generate(ask(tmp_path))
    with pytest.raises(RetryableError, match="HTTP 302"):
        provider.generate(ask(tmp_path))
    assert [r.path for r in backend.received] == ["/v1/generate", "/v1/generate"]


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(body=json.dumps({"items": []}).encode(), content_type="application/json"), "no items"),
        (Reply(body=b"{not json", content_type="application/json"), "cannot be read"),
        (
            Reply(
                body=json.dumps({"items": [{"content_type": "image/png", "data": "@@"}]}).encode(),
                content_type="application/json",
            ),
            "base64",
        ),
        (Reply(body=b"<html>", content_type="text/html"), "text/html, not an image"),
        (Reply(body=b"", content_type="image/png"), "empty"),
    ],
)
def test_an_answer_that_breaks_the_protocol_is_retryable(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any, reply: Reply, words: str
) -> None:
    backend = backend_factory(in_order(reply))
    with pytest.raises(RetryableError) as caught:
        connect(backend.url).generate(ask(tmp_path))
    assert words in caught.value.message


def test_a_cancel_does_not_wait_for_a_slow_backend(
    tmp_path: Path, backend_factory: BackendFactory, connect: Any
) -> None:
    backend = backend_factory(in_order(Reply(body=PNG, stall=10)))
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(JobCancelledError):
        connect(backend.url, timeout=30).generate(ask(tmp_path, cancel=cancel))
    assert time.monotonic() - started < 2
