"""The README's run command starts the product: `make run` in the checkout, with a fresh data dir
and a free port, answers /readyz, runs one job to its end through the API, and stops cleanly on
Ctrl-C (SIGINT to make's process group, as a terminal sends it).

`make run` installs first (`make install`): quick when the virtualenv is current, as it is after
`make test`; the readiness deadline still leaves room for a real install.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.e2e.flows.client import Visitor
from tests.e2e.flows.product import clean_environment, free_port, wait_ready
from tests.fixtures.availability import unavailable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INSTALL_AND_START_TIMEOUT = 240.0
JOB_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def run_command_of_readme() -> list[str]:
    """The command the README gives for running MediaCraft."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"`make run`", readme), "the README does not name `make run` as the way to run MediaCraft"
    return ["make", "run"]


def test_make_run_starts_the_product_runs_a_job_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        unavailable("make is not installed")
    command = run_command_of_readme()
    data_dir, port = tmp_path / "var", free_port()
    log_path = tmp_path / "make-run.log"
    env = clean_environment({"MEDIACRAFT_DATA_DIR": str(data_dir), "MEDIACRAFT_HTTP_PORT": str(port)})
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output() -> str:
        return log_path.read_text(encoding="utf-8", errors="replace")

    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, make, INSTALL_AND_START_TIMEOUT, "`make run`")
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n--- output ---\n{output()[-4000:]}") from None

        visitor = Visitor(url, "first user")
        try:
            with visitor.events() as stream:
                task_id = visitor.generate_image("hello", 96, 64)
                stream.wait_terminal([task_id], JOB_TIMEOUT)
            final = visitor.status(task_id)
            assert final["status"] == "completed", final
            image = visitor.download(task_id, tmp_path / "image.png")
        finally:
            visitor.close()
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (data_dir / "mediacraft.db").is_file() and (data_dir / "objects").is_dir(), (
            "the data lives under MEDIACRAFT_DATA_DIR"
        )

        family = psutil.Process(make.pid).children(recursive=True)
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group: make and the product
        code = make.wait(STOP_TIMEOUT)
        _, alive = psutil.wait_procs(family, timeout=STOP_TIMEOUT)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(30)

    text = output()
    assert not alive, f"processes outlived `make run`: {[p.pid for p in alive]}"
    # make itself dies of the SIGINT it got; it reports a recipe that failed with "*** [...] Error N"
    assert code in (0, -signal.SIGINT, 130), f"make exited with {code}\n{text[-4000:]}"
    assert "standalone stopped" in text, f"the product did not drain and stop:\n{text[-4000:]}"
    assert "Traceback" not in text and not re.search(r"\*\*\* \[.*\] Error", text), text[-4000:]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
