"""MediaCraft started as a person starts it: a real OS process on free 127.0.0.1 ports over a data
directory of its own, in either mode, and stopped with a signal as Ctrl-C or an orchestrator would.

- standalone: `python -m mediacraft.standalone` (in-process bus, SQLite, local object directory);
- stack: `python -m mediacraft.standalone.stack`, every service its own process, on the RabbitMQ
  vhost and S3 bucket given in `settings` (MEDIACRAFT_BUS_URL, MEDIACRAFT_OBJECT_STORE_URL).

Nothing here imports pytest: the e2e benchmark starts the product with the same code.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import psutil

STANDALONE = "standalone"
STACK = "stack"
MODES = (STANDALONE, STACK)

START_TIMEOUT = 60.0  # the stack boots nine Python processes on two cores
STOP_TIMEOUT = 60.0

# Production defaults wait minutes between retries and a minute for a lease to lapse; a test of a
# restart cannot. Quotas and every other limit stay at the product's defaults.
FAST_TIMERS = {
    "MEDIACRAFT_RETRY_DELAYS_MS": "300,600,900",
    "MEDIACRAFT_LEASE_SECONDS": "4",
    "MEDIACRAFT_HEARTBEAT_SECONDS": "1",
    "MEDIACRAFT_SSE_HEARTBEAT_SECONDS": "2",
    "MEDIACRAFT_DRAIN_SECONDS": "2",  # standalone: how long running jobs may finish on Ctrl-C
    "MEDIACRAFT_SHUTDOWN_GRACE_SECONDS": "2",  # stack: the same for each worker and the gateway
}


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any MEDIACRAFT_ setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIACRAFT_")}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float, describe: str) -> float:
    """Poll GET /readyz until it answers 200; returns the seconds it took. Fails fast if `process` exits."""
    started = time.monotonic()
    deadline = started + timeout
    last = "no answer"
    with httpx.Client(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{describe} exited with {process.returncode} before it was ready")
            try:
                reply = client.get("/readyz")
                if reply.status_code == 200:
                    return time.monotonic() - started
                last = f"{reply.status_code} {reply.text[:300]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            try:
                process.wait(0.1)  # a bounded wait on the process itself: returns early if it dies
            except subprocess.TimeoutExpired:
                pass
    raise TimeoutError(f"{describe} was not ready within {timeout:.0f} s (last /readyz: {last})")


@dataclass
class ProductProcess:
    """One installation of MediaCraft: a mode, a data dir and ports, started and stopped as a whole."""

    mode: str
    data_dir: Path
    log_path: Path
    settings: dict[str, str] = field(default_factory=dict)
    timers: dict[str, str] = field(default_factory=lambda: dict(FAST_TIMERS))  # {}: production defaults
    port: int = field(default_factory=free_port)
    identity_port: int = field(default_factory=free_port)
    cleanup_metrics_port: int = field(default_factory=free_port)  # stack: two stacks on one machine
    workers: int = 1  # stack: processes per worker pool
    schedulers: int = 1  # stack: scheduler replicas
    metrics_port: int = 0  # stack: the first of its processes' metrics ports (0: none)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    ready_seconds: float = 0.0
    _log: IO[bytes] | None = None
    _log_offset: int = 0
    _family: list[psutil.Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.mode == STANDALONE:
            return [sys.executable, "-m", "mediacraft.standalone"]
        return [
            sys.executable,
            "-m",
            "mediacraft.standalone.stack",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--identity-port",
            str(self.identity_port),
            "--workers",
            str(self.workers),
            "--schedulers",
            str(self.schedulers),
            "--grace",
            "30",
            "--metrics-port",
            str(self.metrics_port),
        ]

    def environment(self) -> dict[str, str]:
        return clean_environment(
            {
                **self.timers,
                "MEDIACRAFT_DATA_DIR": str(self.data_dir),
                "MEDIACRAFT_HTTP_PORT": str(self.port),
                "MEDIACRAFT_CLEANUP_METRICS_PORT": str(self.cleanup_metrics_port),
                "MEDIACRAFT_LOG_JSON": "false",
                **self.settings,
            }
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the product and wait until /readyz says every adapter answers."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - held while the product runs, closed by _close_log()
        self._log_offset = self._log.tell()
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.starts += 1
        try:
            self.ready_seconds = wait_ready(self.url, self.process, timeout, f"the {self.mode} product")
        except BaseException as exc:
            self.kill()
            raise RuntimeError(f"{exc}\n--- log ---\n{self.log_tail()}") from exc

    def stop(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT) -> int:
        """Send `sig` (Ctrl-C by default) to the product and wait for it and its children to end."""
        process = self.process
        assert process is not None
        self._family = self._children()
        if process.poll() is None:
            process.send_signal(sig)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(
                f"the {self.mode} product did not stop within {timeout:.0f} s\n{self.log_tail()}"
            ) from None
        # the stack starts each service in a session of its own: they must be gone as well
        _, alive = psutil.wait_procs(self._family, timeout=timeout)
        self._close_log()
        if alive:
            self.kill()
            raise AssertionError(f"processes outlived the {self.mode} product: {[p.pid for p in alive]}")
        return code

    def kill(self) -> None:
        """Last resort for a product that will not stop (or a failed test): SIGKILL its process group."""
        if self.process is not None:
            family = self._children() or self._family
            for member in family:
                try:
                    member.kill()
                except psutil.NoSuchProcess:
                    pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(30)
            psutil.wait_procs(family, timeout=30)
        self._close_log()

    def services(self) -> dict[str, list[psutil.Process]]:
        """The stack's service processes by module (`scheduler`, `worker_merge`, ...), in start order;
        ffprobe, ffmpeg or weed children of the work are not services."""
        started: list[tuple[float, str, psutil.Process]] = []
        for child in self._children():
            try:
                cmdline, at = child.cmdline(), child.create_time()
            except psutil.NoSuchProcess:
                continue
            if "-m" in cmdline and (module := cmdline[cmdline.index("-m") + 1]).startswith("mediacraft."):
                started.append((at, module.removeprefix("mediacraft."), child))
        found: dict[str, list[psutil.Process]] = {}
        for _, module, child in sorted(started, key=lambda entry: entry[0]):
            found.setdefault(module, []).append(child)
        return found

    def run_log(self) -> str:
        """What the product printed since its last start."""
        with open(self.log_path, "rb") as fh:
            fh.seek(self._log_offset)
            return fh.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.run_log().splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True) if self.process else []
        except psutil.NoSuchProcess:
            return []
