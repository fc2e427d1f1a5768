"""A Prometheus metrics endpoint on a port of its own, apart from any public API port.

Served from a thread (prometheus-client's server): a scrape never waits for the event loop.
prometheus-client is imported only here and in `new_registry`, not when this module loads: a
distribution that serves metrics declares it (shared's `metrics` extra, or the service itself).
No `_created` series: they duplicate each counter and histogram for what Prometheus can tell
from a counter's reset, so every registry made or served here goes without them.
"""

from __future__ import annotations

import threading
from typing import Any


def without_created_series() -> None:
    """Export no `<name>_created` samples (prometheus-client's switch is process-wide)."""
    from prometheus_client import disable_created_metrics

    disable_created_metrics()  # type: ignore[no-untyped-call]


def new_registry() -> Any:
    """A registry of its own for one service's metrics (several services may share a process)."""
    from prometheus_client import CollectorRegistry

    without_created_series()
    return CollectorRegistry()


class MetricsServer:
    """Serves `registry` as Prometheus text on host:port from `start` until `stop`; port 0 is off."""

    def __init__(self, registry: Any, *, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.port != 0

    def start(self) -> None:
        """Bind and serve (nothing when the port is 0); raises OSError when the port is taken."""
        if not self.enabled or self._server is not None:
            return
        from prometheus_client import start_http_server

        without_created_series()
        self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
