"""Stopping the processes a benchmark started (the underscore keeps `python -m bench` off it)."""

from __future__ import annotations

import signal
import subprocess


def stop(proc: subprocess.Popen, *, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Ask `proc` to stop with `sig`; kill it if it has not exited within `timeout` seconds."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
