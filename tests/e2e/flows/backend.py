"""A generation service for the end-to-end tests: the one dependency outside MediaCraft that the
tests control, so that a failure, a fix and a long-running job happen exactly when a test wants.

It speaks the HTTP provider's protocol (version 1, see
`mediacraft.worker_generate.providers.http`) on a free 127.0.0.1 port: it answers a request for
images with real PNGs, refuses (422, non-retryable) a prompt listed in `refused`, and holds the
answer for a prompt given to `hold()` until `release()` of it (a job that runs as long as the
test needs). The product points at it with MEDIACRAFT_GENERATE_PROVIDER=http and
MEDIACRAFT_GENERATE_HTTP_ENDPOINT=`url`.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

HOLD_LIMIT = 120.0  # a held answer is sent after this long at most, so no thread outlives a test


def png(width: int, height: int, seed: int) -> bytes:
    """A real PNG: a gradient whose colours come from the seed."""
    rng = np.random.default_rng(seed)
    start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    row = (start + (end - start) * ramp).astype(np.uint8)
    ok, data = cv2.imencode(".png", np.repeat(row, height, axis=0))
    assert ok
    return data.tobytes()


class GenerationBackend:
    """The service, its switches and what it was asked."""

    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self._holds: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                backend._answer(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the product logs each call already

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="generation-backend", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an IPv4 server's address
        return f"http://{host}:{port}/v1/generate"

    def prompts(self) -> list[str]:
        with self._lock:
            return [r["prompt"] for r in self.requests]

    def hold(self, prompt: str) -> None:
        """Hold the answers for `prompt` (from now on) until `release(prompt)`."""
        with self._lock:
            self._holds[prompt] = threading.Event()

    def release(self, prompt: str) -> None:
        """Answer the held requests for `prompt`, and every later one at once."""
        with self._lock:
            gate = self._holds.pop(prompt, None)
        if gate is not None:
            gate.set()

    def close(self) -> None:
        for prompt in list(self._holds):
            self.release(prompt)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
        prompt = body.get("prompt", "")
        if prompt in self.refused:
            self._send(
                handler,
                422,
                "application/json",
                json.dumps({"error": {"message": f"the backend refuses {prompt!r}"}}).encode(),
            )
            return
        if body.get("kind") != "image":
            self._send(handler, 422, "application/json", b'{"error": "this backend makes images only"}')
            return
        with self._lock:
            gate = self._holds.get(prompt)
        if gate is not None:
            gate.wait(HOLD_LIMIT)
        seed, count = int(body.get("seed") or 0), int(body.get("count") or 1)
        images = [png(int(body["width"]), int(body["height"]), seed + n) for n in range(count)]
        if count == 1:
            self._send(handler, 200, "image/png", images[0])
            return
        items = [{"content_type": "image/png", "data": base64.b64encode(i).decode()} for i in images]
        self._send(handler, 200, "application/json", json.dumps({"items": items, "info": {"model": "e2e"}}).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, data: bytes) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker hung up (a cancelled job)
