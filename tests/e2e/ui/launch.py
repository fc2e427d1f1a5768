"""`python -m tests.e2e.ui.launch`: the single-process product with the web UI, configured only by
MEDIACRAFT_* environment variables, until SIGINT or SIGTERM (then it drains like `make run`).

For browser tests that need settings the in-process server cannot take, such as another
generation provider: the generation worker builds its provider once per process."""

from __future__ import annotations

import asyncio

from mediacraft.gateway.webui import mount_web_ui
from mediacraft.standalone.main import Standalone
from mediacraft.standalone.settings import StandaloneSettings


def main() -> None:
    """Serve until told to stop."""
    standalone = Standalone(StandaloneSettings())
    if not any(getattr(route, "path", None) == "/" for route in standalone.app.routes):
        mount_web_ui(standalone.app)
    asyncio.run(standalone.run_until_signal())


if __name__ == "__main__":
    main()
