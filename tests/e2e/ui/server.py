"""The single-process product (Standalone) served on a free port from a background thread, for the
browser tests: the browser talks to it over real HTTP, exactly as a visitor's browser would."""

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

from mediacraft.gateway.webui import mount_web_ui
from mediacraft.standalone.main import Standalone
from mediacraft.standalone.settings import StandaloneSettings

START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0

# Every browser context is a new visitor from 127.0.0.1: lift the per-IP cap on new identities.
TEST_ENV = {
    "MEDIACRAFT_NEW_IDENTITIES_PER_IP_BURST": "1000",
    "MEDIACRAFT_NEW_IDENTITIES_PER_IP_PER_MINUTE": "1000",
    "MEDIACRAFT_QUEUE_POSITION_REFRESH_SECONDS": "0.5",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    # the services read their settings from the environment when built; restore it right after
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
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with _environment(TEST_ENV):
            self.standalone = Standalone(StandaloneSettings(
                data_dir=str(data_dir), http_port=self.port, drain_seconds=2.0, log_level="WARNING",
            ))
        app = self.standalone.app
        if not any(getattr(route, "path", None) == "/" for route in app.routes):
            mount_web_ui(app)
        self._server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=3,
        ))
        self._thread = threading.Thread(target=self._run, name="ui-standalone", daemon=True)
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start() or stop()
            self._failure = exc

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.standalone.start()
        try:
            await self._server.serve()
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
        if self._loop is not None and self._thread.is_alive():
            # end open live streams first, so the server need not wait for browsers to hang up
            hub = self.standalone.app.state.ctx.hub
            asyncio.run_coroutine_threadsafe(hub.close(), self._loop).result(STOP_TIMEOUT)
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            raise TimeoutError("the product did not stop in time")
        if self._failure is not None:
            raise RuntimeError(f"the product failed: {self._failure!r}")
