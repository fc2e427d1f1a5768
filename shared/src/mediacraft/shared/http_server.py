"""An HTTP service's server as a process part: uvicorn serving an ASGI app until the process stops.

uvicorn normally owns SIGINT/SIGTERM and re-raises the signal once it has stopped, which would
cut a process's drain short: here `run_until_signal` owns the signals and holds the server (it
stops accepting, open requests get `graceful_seconds`), a second hold stops waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from mediacraft.shared.process import BasePart


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers, telling when it has started."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:  # not when the app's startup failed
            self.up.set()


class HttpServer(BasePart):
    """Serves `app` on host:port (or a socket already bound) from `start` until `stop`."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        graceful_seconds: float,
        before_exit: Callable[[], Awaitable[None]] | None = None,
        **options: Any,
    ) -> None:
        """`before_exit` runs when the server is held (ends live streams that would keep it waiting);
        `options` go to uvicorn.Config (proxy_headers, forwarded_allow_ips)."""
        self.app = app
        self.config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=math.ceil(graceful_seconds), **options,
        )  # fmt: skip
        self.before_exit = before_exit
        self.sockets: list[socket.socket] | None = None
        self._server = _Server(self.config)
        self._serving: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._asked = False  # to stop

    async def start(self) -> None:
        """Serve; return once the app's startup ran and the port is bound (raise when it failed)."""
        self._serving = asyncio.ensure_future(self._serve())
        up = asyncio.ensure_future(self._server.up.wait())
        try:
            await asyncio.wait({self._serving, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
        if not self._server.up.is_set():
            self._serving.result()  # what stopped it
            raise RuntimeError(f"the HTTP server did not start on {self.config.host}:{self.config.port}")

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=self.sockets)
        except SystemExit as exc:  # uvicorn exits when it cannot bind or the app's startup failed
            raise RuntimeError(f"the HTTP server did not start on {self.config.host}:{self.config.port}") from exc

    def hold(self) -> None:
        """Accept nothing more; a second hold (a second signal) stops waiting for open connections."""
        if self._server.should_exit:
            self._server.force_exit = True
        self._exit()

    def _exit(self) -> None:
        self._asked = True
        self._server.should_exit = True
        if self.before_exit is not None and self._closing is None:
            self._closing = asyncio.ensure_future(self.before_exit())

    async def stop(self) -> None:
        """Let open requests finish within the grace, run the app's shutdown."""
        self._exit()
        if self._closing is not None:
            await self._closing
        if self._serving is not None:
            await self._serving

    async def ended(self) -> None:
        """Return when the server stopped without being asked (its app's startup or loop failed)."""
        if self._serving is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._serving)
        if not self._asked:
            return
        await asyncio.Event().wait()
