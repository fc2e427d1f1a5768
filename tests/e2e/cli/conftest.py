"""Fixtures of the CLI end-to-end tests: the product served in-process, sample clips, and users,
each a `mediacraft` command line with its own identity file, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.media import make_clip
from tests.fixtures.served_product import ServedProduct

WM_BOX = (20, 20, 120, 50)
CLI_TIMEOUT = 60.0  # the deadline of one command; none of them should come close


@pytest.fixture(scope="session")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProduct]:
    served = ServedProduct(tmp_path_factory.mktemp("cli-product"), name="cli-standalone")
    served.start()
    try:
        yield served
    finally:
        served.stop()


@dataclass(frozen=True)
class Clips:
    watermarked: Path  # a white logo box at WM_BOX
    truth: Path  # the same clip without the box
    first: Path
    second: Path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    root = tmp_path_factory.mktemp("cli-clips")
    return Clips(
        watermarked=make_clip(root / "logo.mp4", duration=2.0, watermark=WM_BOX),
        truth=make_clip(root / "truth.mp4", duration=2.0),
        first=make_clip(root / "first.mp4", duration=1.0),
        second=make_clip(root / "second.mp4", duration=1.0, width=320, height=240),
    )


@dataclass
class CliUser:
    """One person at a terminal: the `mediacraft` command with their own identity file."""

    server: str
    identity: Path
    workdir: Path

    def command(self, *args: Any) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mediacraft.cli",
            "--server",
            self.server,
            "--identity",
            str(self.identity),
            *map(str, args),
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIACRAFT_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run(self, *args: Any, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run `mediacraft ARGS...` to its end (within the deadline)."""
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, cwd=self.workdir, env=self.env()
        )

    def json(self, *args: Any, expect: int = 0, timeout: float = CLI_TIMEOUT) -> Any:
        """Run with --json, check the exit status, and return the parsed stdout."""
        done = self.run("--json", *args, timeout=timeout)
        assert done.returncode == expect, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
        return json.loads(done.stdout)


def new_user(product: ServedProduct, root: Path) -> CliUser:
    root.mkdir(parents=True, exist_ok=True)
    return CliUser(product.url, root / "config" / "identity.json", root)


@pytest.fixture
def user(product: ServedProduct, tmp_path: Path) -> CliUser:
    """A new visitor (their identity file does not exist yet)."""
    return new_user(product, tmp_path / "user")


@dataclass(frozen=True)
class FinishedWork:
    """What one user submitted with --wait: the processes and the final task views."""

    user: CliUser
    watermark_run: subprocess.CompletedProcess[str]
    watermark: dict[str, Any]
    merge_run: subprocess.CompletedProcess[str]
    merge: dict[str, Any]


@pytest.fixture(scope="module")
def alice(product: ServedProduct, clips: Clips, tmp_path_factory: pytest.TempPathFactory) -> FinishedWork:
    """A user who removed a watermark and merged two clips, each with --wait, in separate runs."""
    who = new_user(product, tmp_path_factory.mktemp("alice"))
    box = ",".join(map(str, WM_BOX))
    wm_run = who.run("--json", "watermark", clips.watermarked, "--region", box, "--wait")
    merge_run = who.run("--json", "merge", clips.first, clips.second, "--wait")
    for run in (wm_run, merge_run):
        assert run.returncode == 0, f"exit {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    return FinishedWork(who, wm_run, json.loads(wm_run.stdout), merge_run, json.loads(merge_run.stdout))
