"""A thread a failed test leaves running must not keep the test run from ending."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LEAKING_TEST = """
import threading

def test_leaves_a_thread_running():
    stop = threading.Event()
    threading.Thread(target=stop.wait, name="left-running").start()  # not a daemon: nothing stops it
    assert False, "failed before its clean-up"
"""


def test_a_run_that_leaves_a_thread_running_still_exits_with_its_status(tmp_path: Path) -> None:
    (tmp_path / "test_leak.py").write_text(LEAKING_TEST)
    env = {**os.environ, "MEDIACRAFT_TEST_EXIT_GRACE": "0.5", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.fixtures.exit_guard",
            "-p",
            "no:cacheprovider",
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_leak.py"),
        ],
        capture_output=True,
        text=True,
        timeout=60,  # without the guard the child never exits
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the failed test's status, not a hang
    assert "1 failed" in done.stdout
    assert "exit guard" in done.stderr and "left-running" in done.stderr
