"""A fake generation service on 127.0.0.1: a threaded http.server that answers from a script.

It binds its port at once but listens only when `up()` is called (or at start with
`listening=True`), so until then a connection to its URL is refused, exactly as when the real
service is down, and the port cannot be taken by anyone else meanwhile.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "image/png"
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to wait before answering (cut short when the backend closes)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


Script = Callable[[Received], Reply]


def png_bytes(width: int = 64, height: int = 48, value: int = 120) -> bytes:
    """A real PNG of a flat colour."""
    ok, data = cv2.imencode(".png", np.full((height, width, 3), value, np.uint8))
    assert ok
    return data.tobytes()


def json_error(status: int, message: str) -> Reply:
    """An error answer in the usual `{"error": {"message": ...}}` shape."""
    return Reply(status, json.dumps({"error": {"code": "rejected", "message": message}}).encode(), "application/json")


def in_order(*replies: Reply) -> Script:
    """Answer with each reply in turn; the last one repeats."""
    lock = threading.Lock()
    position = [0]

    def script(_: Received) -> Reply:
        with lock:
            reply = replies[min(position[0], len(replies) - 1)]
            position[0] += 1
        return reply

    return script


class FakeBackend:
    """The generation service's stand-in; `received` lists every request it answered."""

    def __init__(self, script: Script, *, listening: bool = True) -> None:
        self.script = script
        self.received: list[Received] = []
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw or b"{}"))
                backend.received.append(request)
                reply = backend.script(request)
                if reply.stall and backend._closing.wait(reply.stall):
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.server_bind()
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # an IPv4 server's address
        self.url = f"http://{host}:{port}/v1/generate"
        if listening:
            self.up()

    def up(self) -> None:
        """Start listening and answering."""
        if self._thread is not None:
            return
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Release stalled answers, stop serving and free the port."""
        self._closing.set()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()
