"""Fixtures for the media tests: generated clips (rendered once per session), a job directory,
and tripwires that catch a network connection or a read outside the job directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.worker.contract import JobContext
from tests.fixtures.availability import unavailable
from tests.fixtures.media import make_clip, make_joined_clip


@pytest.fixture(scope="session")
def ffmpeg_tools() -> None:
    """ffmpeg and ffprobe must be installed (skip on a laptop without them, fail in CI)."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")


class ClipLibrary:
    """Clips rendered on first use and shared by every test of the session (tests copy them)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def get(self, name: str, **params: Any) -> Path:
        """The clip called `name`, rendered by make_clip(**params) the first time it is asked for."""
        path = self.root / name
        with self._lock:
            if not path.exists():
                make_clip(path, **params)
        return path

    def joined(self, name: str, parts: list[tuple[int, int, float, str, int]], pix_fmts: Sequence[str] = ()) -> Path:
        """A clip that changes mid-stream, made by make_joined_clip the first time it is asked for."""
        path = self.root / name
        with self._lock:
            if not path.exists():
                make_joined_clip(path, parts, pix_fmts=pix_fmts)
        return path

    def render(self, name: str, args: list[str]) -> Path:
        """A file made by a custom ffmpeg command (`args` after the inputs' global options)."""
        path = self.root / name
        with self._lock:
            if not path.exists():
                subprocess.run(
                    ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args, str(path)],
                    check=True,
                )
        return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_tools: None) -> ClipLibrary:
    return ClipLibrary(tmp_path_factory.mktemp("clips"))


@dataclass
class Job:
    """A per-test job directory, as the worker runtime prepares it: inputs already downloaded."""

    workdir: Path
    inputs: list[Path] = field(default_factory=list)

    def add(self, source: Path, name: str | None = None) -> Path:
        """Copy a file in as the next input."""
        target = self.workdir / (name or f"input-{len(self.inputs)}{source.suffix}")
        shutil.copyfile(source, target)
        self.inputs.append(target)
        return target

    def write(self, name: str, data: bytes) -> Path:
        """Create an input from raw bytes."""
        target = self.workdir / name
        target.write_bytes(data)
        self.inputs.append(target)
        return target

    def ctx(self, **overrides: Any) -> JobContext:
        """A JobContext over this job's inputs."""
        values: dict[str, Any] = {
            "task_id": "task-1",
            "attempt": 1,
            "workdir": self.workdir,
            "inputs": list(self.inputs),
            "input_names": [p.name for p in self.inputs],
            "config": {},
        }
        values.update(overrides)
        return JobContext(**values)

    def listing(self) -> set[str]:
        """Every path under the job directory, relative to it."""
        return {str(p.relative_to(self.workdir)) for p in self.workdir.rglob("*")}

    def only_inputs_left(self) -> bool:
        return self.listing() == {p.name for p in self.inputs}


@pytest.fixture
def job(tmp_path: Path) -> Job:
    workdir = tmp_path / "job"
    workdir.mkdir()
    return Job(workdir)


@dataclass
class Listener:
    """A TCP listener on 127.0.0.1 that a crafted playlist points to."""

    port: int
    sock: socket.socket

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x.ts"

    def connections(self) -> int:
        """Connections queued so far; the kernel queues them even though nobody accepts."""
        count = 0
        self.sock.setblocking(False)
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield Listener(sock.getsockname()[1], sock)
    finally:
        sock.close()


@dataclass
class Tripwire:
    """A FIFO outside the job directory: opening it for reading releases a waiting writer."""

    path: Path
    opened: threading.Event  # set when anything but the fixture opened the FIFO
    opened_by_other: Callable[[], bool]  # call once the code under test has finished


@pytest.fixture
def outside_tripwire(tmp_path: Path) -> Iterator[Tripwire]:
    outside = tmp_path / "outside"
    outside.mkdir()
    fifo = outside / "secret.mp4"
    os.mkfifo(fifo)
    done = threading.Event()
    opened_early = threading.Event()

    def writer() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # blocks until some reader opens the FIFO
        if not done.is_set():
            opened_early.set()
        os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()

    def opened_by_other() -> bool:
        done.set()
        release = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open return
        thread.join(timeout=5)
        os.close(release)
        return opened_early.is_set()

    yield Tripwire(fifo, opened_early, opened_by_other)
    if thread.is_alive():
        opened_by_other()
