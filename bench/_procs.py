"""The processes a benchmark started: their CPU time, and stopping them (the underscore keeps
`python -m bench` off this module)."""

from __future__ import annotations

import signal
import subprocess

import psutil


def stop(proc: subprocess.Popen, *, timeout: float, sig: int = signal.SIGTERM) -> None:
    """Ask `proc` to stop with `sig`; kill it if it has not exited within `timeout` seconds."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time (user + system) `proc` has used so far."""
    times = proc.cpu_times()
    return times.user + times.system
