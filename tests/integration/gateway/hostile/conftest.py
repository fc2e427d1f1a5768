"""The hostile-client suite: what one anonymous visitor can send, through HTTP only.

Big bodies go to the single-process product run as a child process (`python -m
mediacraft.standalone`, a temp data dir, a free port), so that its peak memory can be read from
outside (`VmHWM` in /proc/<pid>/status) and its store and objects inspected on disk. Clients are
raw sockets: they stream their 100 MB from a generator, stop as soon as an answer is readable, and
survive the server closing the connection on them (data that arrived before a reset stays readable).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.served_product import free_port
from tests.fixtures.waiting import poll

MIB = 1024 * 1024
HUNDRED_MB = 100 * MIB
PIECE = 64 * 1024
# The peak memory of the gateway may rise by less than this over one hostile request.
MAX_RISE_BYTES = 30 * MIB


@dataclass(frozen=True)
class Answer:
    """What came back: the status and envelope (None when the connection was cut before an answer)."""

    status: int | None
    doc: dict[str, Any] | None
    headers: dict[str, str]
    sent: int  # body bytes the client managed to send

    @property
    def error_code(self) -> str | None:
        return None if self.doc is None else self.doc.get("error_code")


class ServedGateway:
    """The single-process product as a child process, with what a test inspects from outside."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("MEDIACRAFT_")}
        self.env = {
            **base,
            "MEDIACRAFT_DATA_DIR": str(data_dir),
            "MEDIACRAFT_HTTP_PORT": str(self.port),
            "MEDIACRAFT_LOG_LEVEL": "WARNING",
            "MEDIACRAFT_NEW_IDENTITIES_PER_IP_BURST": "1000",
            "MEDIACRAFT_RATE_IP_BURST": "100000",
            "MEDIACRAFT_RATE_USER_BURST": "100000",
            "MEDIACRAFT_RATE_CREATE_BURST": "1000",
            "MEDIACRAFT_SHUTDOWN_GRACE_SECONDS": "2",
            **(env or {}),
        }
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mediacraft.standalone"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        poll(ready, timeout=60, what="the product to answer /readyz")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    # --- from outside the process ------------------------------------------------------------------

    def memory(self, field: str = "VmHWM") -> int:
        """A memory figure of the process from /proc/<pid>/status, in bytes."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"{field} not in /proc/{self.process.pid}/status")

    def rows(self) -> dict[str, Any]:
        """Every task (id, status, version) and the number of users, read from the store's file."""
        db = sqlite3.connect(f"file:{self.data_dir / 'mediacraft.db'}?mode=ro", uri=True, timeout=10)
        try:
            tasks = sorted(db.execute("SELECT task_id, status, version FROM tasks").fetchall())
            users = db.execute("SELECT count(*) FROM users").fetchone()[0]
        finally:
            db.close()
        return {"tasks": tasks, "users": users}

    def files(self) -> list[str]:
        """Every file under the object store's directory and the gateway's cache (partial uploads included)."""
        found = []
        for root in (self.data_dir / "objects", self.data_dir / "gateway-cache"):
            if root.exists():
                found += [str(p.relative_to(self.data_dir)) for p in root.rglob("*") if p.is_file()]
        return sorted(found)

    def state(self, cookie: str) -> dict[str, Any]:
        """What a refused request must not change: store rows, files, the caller's statistics."""
        info = httpx.get(f"{self.url}/api/user/info", cookies={"mc_uid": cookie}, timeout=10)
        assert info.status_code == 200, info.text
        return {**self.rows(), "files": self.files(), "stats": info.json()["data"]["stats"]}


def identity(url: str) -> str:
    """A new visitor's cookie value."""
    r = httpx.get(f"{url}/api/user/info", timeout=10)
    assert r.status_code == 200, r.text
    return str(r.cookies["mc_uid"])


def json_filler(total: int) -> Iterator[bytes]:
    """`total` bytes of one JSON document (a huge string value), PIECE bytes at a time, never held whole."""
    head, tail = b'{"config": {"prompt": "', b'"}}'
    yield head
    left = total - len(head) - len(tail)
    piece = b"a" * PIECE
    while left > 0:
        yield piece[: min(PIECE, left)]
        left -= PIECE
    yield tail


def send_hostile(
    url: str,
    path: str,
    body: Iterable[bytes],
    *,
    cookie: str | None,
    content_type: str = "application/json",
    declared: int | None = None,
    answer_within: float = 0.0,
) -> Answer:
    """POST `body` with a declared Content-Length (`declared`) or chunked, as fast as the server
    takes it, stopping as soon as an answer can be read or the connection is cut; then the answer.

    With `answer_within`, the headers alone are given that long to be answered before the body
    is sent (as a client sending `Expect: 100-continue` would)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Type: {content_type}"]
    if cookie is not None:
        head.append(f"Cookie: mc_uid={cookie}")
    head.append(f"Content-Length: {declared}" if declared is not None else "Transfer-Encoding: chunked")
    sent = 0
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        select.select([sock], [], [], answer_within)
        for piece in body:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or closed): stop sending
            sock.sendall(piece if declared is not None else b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        else:
            if declared is None:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        return _read_answer(sock, sent)
    finally:
        sock.close()


def _read_answer(sock: socket.socket, sent: int) -> Answer:
    data = bytearray()
    try:
        while True:
            if b"\r\n\r\n" in data:
                head, _, rest = bytes(data).partition(b"\r\n\r\n")
                headers = _headers(head)
                if len(rest) >= int(headers.get("content-length", "0")):
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    if b"\r\n\r\n" not in data:
        return Answer(None, None, {}, sent)
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    headers = _headers(head)
    status = int(head.split(b" ", 2)[1])
    body = rest[: int(headers.get("content-length", len(rest)))]
    doc = json.loads(body) if headers.get("content-type", "").startswith("application/json") else None
    return Answer(status, doc, headers, sent)


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    """The single-process product with its default body limits, for one module."""
    served = ServedGateway(tmp_path_factory.mktemp("hostile") / "data")
    served.start()
    try:
        yield served
    finally:
        served.stop()
