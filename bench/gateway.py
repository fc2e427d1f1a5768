"""Gateway load benchmark: `python -m bench.gateway` (single-process wiring, client on 127.0.0.1).

A server process runs the gateway as the standalone mode wires it (in-process bus, SQLite store,
local-directory object store, identity in-process); this process is the client. It prints, with
50 concurrent clients (each a visitor with its own cookie and keep-alive connection):

- status, list and create: a closed-loop run (every client sends its next request as soon as the
  last one answered: the saturation throughput, and the latency that 50 requests in flight cost)
  and a paced run at a fixed offered rate (latency measured from each request's scheduled time, so
  a stalled server cannot hide its queueing);
- a 500 MB upload through the API beside copying the same file into the same kind of object store
  directly in this process with its `put_file` (the baseline), in alternating rounds (medians);
  for reference, a bare uvicorn app discarding the same upload and a kernel file copy; the
  gateway's peak memory (VmHWM) and the time of a frame preview of that upload.

Request counts are bounded. The server's rate limits are raised for the run (one address
sends everything), which the output says; nothing else differs from the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from bench._machine import reference_ms
from bench._procs import stop

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench" / "gateway"
MB = 1024 * 1024
TARGETS = {"status_p99_ms": 20.0, "create_p99_ms": 50.0, "status_rps": 500.0, "upload_ratio": 0.70, "peak_mb": 150.0}
BENCH_LIMITS = {
    "MEDIACRAFT_RATE_USER_BURST": "1000000",
    "MEDIACRAFT_RATE_USER_PER_SECOND": "1000000",
    "MEDIACRAFT_RATE_IP_BURST": "1000000",
    "MEDIACRAFT_RATE_IP_PER_SECOND": "1000000",
    "MEDIACRAFT_RATE_CREATE_BURST": "1000000",
    "MEDIACRAFT_RATE_CREATE_PER_SECOND": "1000000",
    "MEDIACRAFT_NEW_IDENTITIES_PER_IP_BURST": "1000000",
}


# --- the server side -----------------------------------------------------------------------------


def serve(port: int, data_dir: Path) -> None:
    """Run the gateway with the embedded adapters and identity in-process (the standalone wiring)."""
    import uvicorn

    from mediacraft.gateway.app import create_app
    from mediacraft.gateway.identity_client import InProcessIdentityClient
    from mediacraft.gateway.settings import GatewaySettings
    from mediacraft.identity.handlers import subscribe
    from mediacraft.identity.service import IdentityService
    from mediacraft.shared.adapters.factory import make_bus, make_object_store, make_store
    from mediacraft.shared.clock import SystemClock
    from mediacraft.shared.logging import configure_logging
    from mediacraft.shared.topology import build_topology

    settings = GatewaySettings(
        data_dir=str(data_dir),
        store_url=f"sqlite:///{data_dir}/mediacraft.db",
        object_store_url=f"file://{data_dir}/objects",
        bus_url="memory://",
    )
    configure_logging("WARNING", json=True, service="gateway")

    async def main() -> None:
        clock = SystemClock()
        store = make_store(settings.store_url, clock=clock)
        objects = make_object_store(settings.object_store_url)
        bus = make_bus(settings.bus_url, topology=build_topology(settings.retry_delays_ms), clock=clock)
        for adapter in (store, objects, bus):
            await adapter.start()
        identity = IdentityService(users=store, tasks=store, bus=bus, clock=clock)
        inbox = await subscribe(bus, identity)  # the composition root runs identity's consumer too
        app = create_app(
            settings, store=store, objects=objects, bus=bus, identity=InProcessIdentityClient(identity), clock=clock
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_keep_alive=300)
        )
        profile_to = os.environ.get("BENCH_GATEWAY_PROFILE")  # a path: write cProfile stats of the server
        profiler = None
        if profile_to:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        try:
            await server.serve()
        finally:
            if profiler is not None and profile_to:
                profiler.disable()
                profiler.dump_stats(profile_to)
            await inbox.cancel()
            for adapter in (bus, objects, store):
                await adapter.close()

    try:
        import uvloop

        runner: Callable[[Awaitable[None]], None] = uvloop.run  # type: ignore[assignment]
    except ImportError:
        runner = asyncio.run  # type: ignore[assignment]
    try:
        runner(main())
    except KeyboardInterrupt:  # the client stops the server with SIGINT; the clean-up already ran
        pass


def serve_sink(port: int) -> None:
    """A bare uvicorn app that reads a request body and throws it away: the ceiling of receiving."""
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                done = {
                    "lifespan.startup": "lifespan.startup.complete",
                    "lifespan.shutdown": "lifespan.shutdown.complete",
                }
                await send({"type": done[message["type"]]})
                if message["type"] == "lifespan.shutdown":
                    return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = str(size).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
        )
        await send({"type": "http.response.body", "body": body})

    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    except KeyboardInterrupt:
        pass


# --- a lean HTTP/1.1 client: httpx would spend the client's share of the 2 cores ------------------


class Conn:
    """One keep-alive connection with its own identity cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if self.cookie:
            head += f"Cookie: {self.cookie}\r\n"
        if body or method == "POST":
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        return await self.response()

    async def response(self) -> tuple[int, bytes]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "content-length":
                length = int(value)
            elif name == "set-cookie":
                self.cookie = value.strip().split(";", 1)[0]
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Result:
    name: str
    latencies: list[float]
    seconds: float
    errors: int

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<34} {len(self.latencies):>6} req  {self.rps:>8.0f} req/s  "
            f"p50 {self.pct(0.50):>7.2f} ms  p99 {self.pct(0.99):>7.2f} ms  errors {self.errors}"
        )


Call = Callable[[Conn, int], Awaitable[int]]


async def closed_loop(name: str, conns: list[Conn], per_client: int, call: Call) -> Result:
    """Every client sends its next request as soon as the previous one is answered."""
    latencies: list[float] = []
    errors = 0

    async def client(conn: Conn) -> None:
        nonlocal errors
        for i in range(per_client):
            t0 = time.perf_counter()
            status = await call(conn, i)
            latencies.append(time.perf_counter() - t0)
            errors += status >= 400

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    return Result(name, latencies, time.perf_counter() - start, errors)


async def paced(name: str, conns: list[Conn], rate: float, seconds: float, call: Call) -> Result:
    """An offered load of `rate` req/s spread over the clients; latency from the scheduled send time."""
    latencies: list[float] = []
    errors = 0
    interval = len(conns) / rate
    per_client = int(seconds * rate / len(conns))
    start = time.perf_counter() + 0.05

    async def client(k: int, conn: Conn) -> None:
        nonlocal errors
        for i in range(per_client):
            due = start + (i + k / len(conns)) * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await call(conn, i)
            latencies.append(time.perf_counter() - due)
            errors += status >= 400

    await asyncio.gather(*(client(k, c) for k, c in enumerate(conns)))
    return Result(name, latencies, time.perf_counter() - start, errors)


# --- the run ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def make_video(path: Path, megabytes: int) -> Path:
    """A real (uncompressed) 720p Matroska video of about `megabytes`, made once and kept."""
    if path.exists() and path.stat().st_size >= megabytes * MB * 0.95:
        return path
    frame = 1280 * 720 * 3 // 2
    seconds = max(1.0, megabytes * MB / frame / 30)
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1280x720:rate=30:duration={seconds:.3f}",
            "-c:v",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the gateway exited during start-up")
        try:
            conn = Conn(port)
            await conn.open()
            status, _ = await conn.request("GET", "/readyz")
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not become ready")


async def upload_file(
    port: int, cookie: str, task_id: str, path: Path, *, target: str | None = None
) -> tuple[int, float]:
    """Stream `path` as a multipart upload (the kernel's sendfile: the client costs next to nothing)."""
    boundary = uuid.uuid4().hex
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        f"Content-Type: video/x-matroska\r\n\r\n"
    ).encode()
    trailer = f"\r\n--{boundary}--\r\n".encode()
    length = len(preamble) + path.stat().st_size + len(trailer)
    head = (
        f"POST {target or f'/api/tasks/{task_id}/upload'} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()

    def send() -> tuple[int, float, bytes]:
        with socket.create_connection(("127.0.0.1", port)) as sock, open(path, "rb") as f:
            start = time.perf_counter()
            sock.sendall(head + preamble)
            sock.sendfile(f)
            sock.sendall(trailer)
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            elapsed = time.perf_counter() - start
        return int(answer.split(b" ", 2)[1]), elapsed, answer

    status, elapsed, answer = await asyncio.to_thread(send)
    if status != 200:
        raise RuntimeError(f"upload answered {status}: {answer[:300]!r}")
    return status, elapsed


async def bare_receive(path: Path) -> float:
    """Seconds for a bare uvicorn app (another process) to receive the same upload and discard it."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.gateway", "--serve-sink", str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        _, seconds = await upload_file(port, "", "", path, target="/sink")
        return seconds
    finally:
        stop(proc, timeout=15, sig=signal.SIGINT)


async def direct_copy(path: Path, root: Path) -> float:
    """Seconds to copy `path` into a local-directory object store from this process (the baseline)."""
    from mediacraft.shared.adapters.objects.local import LocalObjectStore

    store = LocalObjectStore(root)
    await store.start()
    start = time.perf_counter()
    await store.put_file(f"baseline/{uuid.uuid4().hex}", path)
    elapsed = time.perf_counter() - start
    await store.close()
    return elapsed


def kernel_copy(path: Path, root: Path) -> float:
    """Seconds for the kernel to copy `path` into `root` and sync it: the disk's own pace, for reference."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / uuid.uuid4().hex
    start = time.perf_counter()
    shutil.copyfile(path, target)
    with open(target, "rb") as f:
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


async def run(args: argparse.Namespace) -> None:
    if WORK.exists():
        shutil.rmtree(WORK / "server", ignore_errors=True)
        shutil.rmtree(WORK / "baseline", ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **BENCH_LIMITS, "MEDIACRAFT_ENVIRONMENT": "development"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway", "--serve", str(port), str(WORK / "server")], cwd=ROOT, env=env
    )
    try:
        await wait_ready(port, proc)
        rss0, _ = peak_rss_mb(proc.pid)
        print(
            f"gateway pid {proc.pid}: single-process wiring (memory bus, SQLite, local objects, identity "
            f"in-process); rate limits raised for a one-address load; RSS at start {rss0:.0f} MB"
        )
        reference = await asyncio.to_thread(reference_ms)
        print(
            f"machine speed: {reference:.0f} ms for bench/_machine.py's fixed Python workload (lower is faster; "
            "this machine's speed drifts, compare figures of runs with like references)"
        )
        conns = [Conn(port) for _ in range(args.clients)]
        for conn in conns:
            await conn.open()
            await conn.request("GET", "/api/user/info")  # each client mints its identity
        tasks: dict[Conn, list[str]] = {}
        body = json.dumps({"task_type": "watermark_removal"}).encode()
        for conn in conns:
            tasks[conn] = []
            for _ in range(args.tasks_per_user):
                status, raw = await conn.request("POST", "/api/tasks/create", body)
                tasks[conn].append(json.loads(raw)["data"]["task_id"])

        async def status_call(conn: Conn, i: int) -> int:
            ids = tasks[conn]
            return (await conn.request("GET", f"/api/tasks/{ids[i % len(ids)]}/status"))[0]

        async def list_call(conn: Conn, i: int) -> int:
            return (await conn.request("GET", "/api/user/tasks?limit=20"))[0]

        async def create_call(conn: Conn, i: int) -> int:
            return (await conn.request("POST", "/api/tasks/create", body))[0]

        n = args.clients
        print(f"\n{n} concurrent clients, each a visitor with {args.tasks_per_user} tasks; closed loop = saturation")
        results = [
            await closed_loop("status, closed loop", conns, args.status_requests // n, status_call),
            await paced(
                f"status, paced at {args.status_rate:.0f}/s", conns, args.status_rate, args.paced_seconds, status_call
            ),
            await closed_loop("list page 1, closed loop", conns, args.list_requests // n, list_call),
            await paced(
                f"list page 1, paced at {args.list_rate:.0f}/s", conns, args.list_rate, args.paced_seconds, list_call
            ),
            await closed_loop("create, closed loop", conns, args.create_requests // n, create_call),
            await paced(
                f"create, paced at {args.create_rate:.0f}/s", conns, args.create_rate, args.paced_seconds, create_call
            ),
        ]
        for r in results:
            print(r.line())
        for conn in conns:
            conn.close()
        _, peak_load = peak_rss_mb(proc.pid)

        upload = None
        if args.upload_mb:
            video = make_video(WORK / f"upload-{args.upload_mb}mb.mkv", args.upload_mb)
            size_mb = video.stat().st_size / MB
            owner = Conn(port)
            await owner.open()
            await owner.request("GET", "/api/user/info")
            # the copy and the upload take turns, several rounds: the disk and the page cache of a
            # shared machine vary from one second to the next, and medians of alternating rounds
            # compare the two under the same conditions
            base_runs: list[float] = []
            up_runs: list[float] = []
            for _ in range(args.upload_rounds):
                base_runs.append(await direct_copy(video, WORK / "baseline"))
                shutil.rmtree(WORK / "baseline", ignore_errors=True)
                _, raw = await owner.request("POST", "/api/tasks/create", body)
                task_id = json.loads(raw)["data"]["task_id"]
                up_runs.append((await upload_file(port, owner.cookie, task_id, video))[1])
            base_seconds, up_seconds = median(base_runs), median(up_runs)
            _, peak = peak_rss_mb(proc.pid)
            bare_seconds = await bare_receive(video)
            kernel_seconds = median(
                [await asyncio.to_thread(kernel_copy, video, WORK / "baseline") for _ in range(args.upload_rounds)]
            )
            t0 = time.perf_counter()
            status, jpeg = await owner.request("GET", f"/api/tasks/{task_id}/preview?t=6")
            preview_ms = (time.perf_counter() - t0) * 1000
            owner.close()
            upload = (size_mb, base_seconds, up_seconds, peak, preview_ms, status)
            rounds = ", ".join(f"{b / u:.2f}" for b, u in zip(base_runs, up_runs, strict=True))
            print(f"\nupload of a {size_mb:.0f} MB video, {args.upload_rounds} alternating rounds (medians)")
            print(f"  direct copy into the object store (baseline)  {size_mb / base_seconds:>8.0f} MB/s")
            print(
                f"  through the gateway API                       {size_mb / up_seconds:>8.0f} MB/s"
                f"  ratio {base_seconds / up_seconds:.2f} (rounds: {rounds})"
            )
            print(
                f"  bare uvicorn receiving and discarding it      {size_mb / bare_seconds:>8.0f} MB/s"
                f"  (the ceiling of any Python HTTP upload here: ratio {base_seconds / bare_seconds:.2f})"
            )
            print(
                f"  kernel file copy + fsync, no object store     {size_mb / kernel_seconds:>8.0f} MB/s"
                f"  (the disk's pace, for reference; the store's put_file reads and writes 1 MiB chunks"
                f" in its thread pool: gateway / kernel copy {kernel_seconds / up_seconds:.2f})"
            )
            print(f"  gateway peak memory (VmHWM) {peak:.0f} MB (after the load runs: {peak_load:.0f} MB)")
            print(f"  frame preview of the upload: {preview_ms:.0f} ms (HTTP {status}, {len(jpeg)} bytes)")

        status_paced = results[1]
        create_paced = results[5]
        best_status_rps = max(results[0].rps, status_paced.rps)
        print("\ntargets")
        checks = [
            (
                f"status p99 at {args.status_rate:.0f}/s < {TARGETS['status_p99_ms']:.0f} ms",
                status_paced.pct(0.99) < TARGETS["status_p99_ms"],
                f"{status_paced.pct(0.99):.1f} ms",
            ),
            (
                f"create p99 at {args.create_rate:.0f}/s < {TARGETS['create_p99_ms']:.0f} ms",
                create_paced.pct(0.99) < TARGETS["create_p99_ms"],
                f"{create_paced.pct(0.99):.1f} ms",
            ),
            (
                f"status throughput >= {TARGETS['status_rps']:.0f}/s",
                best_status_rps >= TARGETS["status_rps"],
                f"{best_status_rps:.0f}/s",
            ),
        ]
        if upload:
            size_mb, base_seconds, up_seconds, peak, _, _ = upload
            checks += [
                (
                    f"upload >= {TARGETS['upload_ratio']:.0%} of a direct copy",
                    base_seconds / up_seconds >= TARGETS["upload_ratio"],
                    f"{base_seconds / up_seconds:.0%}",
                ),
                (f"gateway peak memory < {TARGETS['peak_mb']:.0f} MB", peak < TARGETS["peak_mb"], f"{peak:.0f} MB"),
            ]
        for label, ok, value in checks:
            print(f"  [{'ok' if ok else 'MISS'}] {label}: {value}")
    finally:
        stop(proc, timeout=15, sig=signal.SIGINT)  # uvicorn re-raises it after a graceful shutdown
        shutil.rmtree(WORK / "server", ignore_errors=True)
        shutil.rmtree(WORK / "baseline", ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with --serve PORT DIR, the server side of it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        serve(int(argv[1]), Path(argv[2]))
        return
    if argv[:1] == ["--serve-sink"]:
        serve_sink(int(argv[1]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--tasks-per-user", type=int, default=20)
    parser.add_argument("--status-requests", type=int, default=10_000)
    parser.add_argument("--list-requests", type=int, default=2_000)
    parser.add_argument("--create-requests", type=int, default=2_000)
    parser.add_argument("--status-rate", type=float, default=500.0)
    parser.add_argument("--list-rate", type=float, default=300.0)
    parser.add_argument("--create-rate", type=float, default=500.0)
    parser.add_argument("--paced-seconds", type=float, default=8.0)
    parser.add_argument("--upload-mb", type=int, default=500, help="0 skips the upload run")
    parser.add_argument("--upload-rounds", type=int, default=3, help="alternating copy/upload rounds")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
