"""Schedulers and worker pools as real processes, for tests that kill them with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from mediacraft.scheduler.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def settings_env(settings: Settings, *, bus_url: str, store_url: str) -> dict[str, str]:
    """The environment that gives a `python -m mediacraft.scheduler` these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIACRAFT_")}
    values: dict[str, Any] = {
        "BUS_URL": bus_url,
        "STORE_URL": store_url,
        "RETRY_DELAYS_MS": ",".join(str(ms) for ms in settings.retry_delays_ms),
        "DELIVERY_LIMIT": settings.delivery_limit,
        "QUOTA_PER_USER": settings.quota_per_user,
        "QUOTA_GLOBAL": settings.quota_global,
        "LEASE_SECONDS": settings.lease_seconds,
        "TICK_SECONDS": settings.tick_seconds,
        "RECONCILE_SECONDS": settings.reconcile_seconds,
        "PROGRESS_THROTTLE_SECONDS": settings.progress_throttle_seconds,
        "QUEUE_POSITION_REFRESH_SECONDS": settings.queue_position_refresh_seconds,
        "ENVIRONMENT": "test",
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
    }
    env.update({f"MEDIACRAFT_{k}": str(v) for k, v in values.items()})
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("MEDIACRAFT_METRICS_PORT", "0")  # several schedulers and workers share this machine
    return env


class Process:
    """A child process whose output goes to a log file that tests can wait on."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, needle: str, *, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until `needle` appears `count` times in the output; fail if the process died first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.text().count(needle) < count:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.text()[-3000:]}")
            if loop.time() > deadline:
                raise AssertionError(f"{self.name} did not log {needle!r} within {timeout}s:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye to the broker."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it hangs."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()


def start_scheduler(name: str, env: dict[str, str], log_dir: Path) -> Process:
    """`python -m mediacraft.scheduler` with this environment."""
    return Process(name, [sys.executable, "-m", "mediacraft.scheduler"], env=env, log=log_dir / f"{name}.log")


def start_worker_pool(
    name: str, *, bus_url: str, settings: Settings, record: Path, log_dir: Path, heartbeat: float = 0.3
) -> Process:
    """The fake worker pool as a process, recording its runs in `record`."""
    args = [
        sys.executable,
        "-m",
        "tests.fixtures.fake_workers",
        "--bus-url",
        bus_url,
        "--record",
        str(record),
        "--retry-delays-ms",
        ",".join(str(ms) for ms in settings.retry_delays_ms),
        "--delivery-limit",
        str(settings.delivery_limit),
        "--heartbeat",
        str(heartbeat),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return Process(name, args, env=env, log=log_dir / f"{name}.log")
