"""The single-process product (Standalone) served by uvicorn on a free 127.0.0.1 port from a
background thread, so that the CLI, run as a subprocess, reaches it over real HTTP as a user's would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import uvicorn

from mediacraft.standalone.main import Standalone
from mediacraft.standalone.settings import StandaloneSettings

START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0

# Every identity file is a new visitor from 127.0.0.1: lift the per-IP cap on new identities.
# Quotas stay at the product's defaults (one running task per user), which the cancel test needs.
TEST_ENV = {
    "MEDIACRAFT_NEW_IDENTITIES_PER_IP_BURST": "1000",
    "MEDIACRAFT_NEW_IDENTITIES_PER_IP_PER_MINUTE": "1000",
    "MEDIACRAFT_QUEUE_POSITION_REFRESH_SECONDS": "0.5",
    "MEDIACRAFT_SSE_HEARTBEAT_SECONDS": "2",
}


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables while the services read their settings, then restore the old ones."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ServedProduct:
    """Standalone on its own event loop in a thread; `url` answers once `start` returns."""

    def __init__(self, data_dir: Path) -> None:
        # bound here and handed to uvicorn: no window in which another process takes the port
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        with environment(TEST_ENV):
            self.standalone = Standalone(StandaloneSettings(
                data_dir=str(data_dir), http_port=self.port, drain_seconds=2.0, log_level="WARNING",
            ))
        self._server = uvicorn.Server(uvicorn.Config(
            self.standalone.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
            lifespan="on", timeout_graceful_shutdown=3,
        ))
        self._thread = threading.Thread(target=self._run, name="cli-standalone", daemon=True)
        self._failure: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start() or stop()
            self._failure = exc

    async def _main(self) -> None:
        await self.standalone.start()
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            await self.standalone.stop()

    def start(self) -> None:
        """Start serving and wait until /readyz says every adapter answers."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._failure is not None or not self._thread.is_alive():
                    raise RuntimeError(f"the product did not start: {self._failure!r}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                self._thread.join(0.05)  # a bounded wait on the server thread, not a bare sleep
        raise TimeoutError(f"the product did not become ready within {START_TIMEOUT} s")

    def stop(self) -> None:
        """Stop serving, drain and close every service."""
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        self._socket.close()
        if self._thread.is_alive():
            raise TimeoutError("the product did not stop in time")
        if self._failure is not None:
            raise RuntimeError(f"the product failed: {self._failure!r}")
