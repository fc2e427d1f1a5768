"""The local stack: every service as its own OS process on real RabbitMQ, a real S3 server and a
store, with N worker processes per pool, logs prefixed per service, and a clean shutdown.

    python -m mediacraft.standalone.stack [--workers N] [--schedulers N] [--port 8000]

RabbitMQ comes from MEDIACRAFT_BUS_URL (default: the local broker); S3 from
MEDIACRAFT_OBJECT_STORE_URL, or a SeaweedFS started here with its data under the data dir; the
store from MEDIACRAFT_STORE_URL when it is a MongoDB URL, else one SQLite file under the data dir
(WAL, shared by the processes). The cookie key, the identity token and SeaweedFS's secret key,
unless the environment sets them, are generated once into <data dir>/secrets.env and reused
(local_secrets.py). This is how the distributed shape runs on one machine.

Metrics. Gateway, identity, scheduler and worker processes all read MEDIACRAFT_METRICS_PORT, so
on one machine they cannot share it: with `--metrics-port BASE` (default: MEDIACRAFT_METRICS_PORT,
else 0) each gets a port of its own in plan order, the gateway BASE, identity BASE+1, then each
scheduler and each worker process the next (`Stack.metrics_ports` lists them, and the start logs
them); with 0 none of them serves metrics. Cleanup keeps its own MEDIACRAFT_CLEANUP_METRICS_PORT.

Like an orchestrator, the stack starts a service again when its process ends on its own (a crash,
an out-of-memory kill, a `kill -9` to try recovery): at once when it had run for
RESTART_RESET_SECONDS, otherwise after a delay that starts at RESTART_FIRST_DELAY and doubles with
each quick end, up to RESTART_MAX_DELAY. Only a stop of the whole stack ends them for good.
What a dead service leaves running (ffmpeg runs in a session of its own, so a worker's death does
not end it) is ended too, as a pod's processes end with it: on Linux the stack is a child
subreaper, so such leftovers become its children, and each exit of a service kills and reaps them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity.settings import IdentitySettings
from mediacraft.scheduler.settings import Settings as SchedulerSettings
from mediacraft.shared import eventloop
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.worker.settings import WorkerSettings
from mediacraft.standalone.local_secrets import SEAWEED_SECRET_KEY, local_secrets, unset_secrets
from mediacraft.standalone.plan import environment_of, pool_quota
from mediacraft.standalone.seaweed import S3Server, relaunch_seaweed, start_seaweed, stop_seaweed

log = get_logger("mediacraft.stack")

DEFAULT_BUS = "amqp://guest:guest@127.0.0.1:5672/"
POOLS = ("watermark", "merge", "generate")
RESTART_FIRST_DELAY = 0.5  # seconds before the second of a run of quick restarts
RESTART_MAX_DELAY = 30.0
RESTART_RESET_SECONDS = 30.0  # a process that ran this long before it ended restarts at once
OUTPUT_DRAIN_SECONDS = 2.0
EXIT_POLL_SECONDS = 0.2
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@dataclass
class Child:
    name: str
    module: str
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    supervisor: asyncio.Task[None] | None = None
    restarts: int = 0


@dataclass
class Stack:
    """The processes of one local stack and the S3 server it may own."""

    data_dir: Path
    port: int = 8000
    identity_port: int = 8001
    workers: int = 1
    schedulers: int = 1
    grace: float = 30.0
    metrics_port: int = 0  # the first of the processes' metrics ports; 0: no metrics endpoints
    children: list[Child] = field(default_factory=list)
    s3: S3Server | None = None
    s3_supervisor: asyncio.Task[None] | None = None
    s3_restarts: int = 0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def environment(self) -> dict[str, str]:
        """The settings every child shares."""
        env = dict(os.environ)
        env.setdefault("MEDIACRAFT_BUS_URL", DEFAULT_BUS)
        store = env.get("MEDIACRAFT_STORE_URL", "")
        if not store.startswith("mongodb"):
            env.update(environment_of(BaseServiceSettings, store_url=f"sqlite:///{self.data_dir / 'mediacraft.db'}"))
        env.update(environment_of(BaseServiceSettings, data_dir=str(self.data_dir)))
        env.update(unset_secrets(self.data_dir))  # the cookie key and identity token, unless set
        env.setdefault("MEDIACRAFT_LOG_JSON", "false")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def plan(self, env: dict[str, str]) -> list[Child]:
        """Which processes to run, in start order (stopped in reverse); what each gets on top of the
        shared environment comes from its Settings class (plan.py)."""
        ports = self.metrics_ports()
        children = [
            Child(
                "identity",
                "mediacraft.identity",
                {
                    **env,
                    **environment_of(IdentitySettings, http_port=self.identity_port, metrics_port=ports["identity"]),
                },
            ),
            Child(
                "gateway",
                "mediacraft.gateway",
                {
                    **env,
                    **environment_of(
                        GatewaySettings,
                        http_port=self.port,
                        identity_url=f"http://127.0.0.1:{self.identity_port}",
                        metrics_port=ports["gateway"],
                    ),
                },
            ),
        ]
        configured = SchedulerSettings().quota_per_pool  # what the environment asks for, if anything
        quota = pool_quota(configured, dict.fromkeys(POOLS, self.workers))
        scheduler_env = {**env, **environment_of(SchedulerSettings, quota_per_pool=quota)}
        children += [
            Child(
                f"scheduler-{n}",
                "mediacraft.scheduler",
                {**scheduler_env, **environment_of(SchedulerSettings, metrics_port=ports[f"scheduler-{n}"])},
            )
            for n in range(self.schedulers)
        ]
        for pool in POOLS:
            for n in range(self.workers):
                work = self.data_dir / "work" / f"{pool}-{n}"
                children.append(
                    Child(
                        f"{pool}-{n}",
                        f"mediacraft.worker_{pool}",
                        {
                            **env,
                            **environment_of(
                                WorkerSettings,
                                work_dir=str(work),
                                worker_id=f"stack-{pool}-{n}",
                                metrics_port=ports[f"{pool}-{n}"],
                            ),
                        },
                    )
                )
        children.append(Child("cleanup", "mediacraft.cleanup", dict(env)))
        return children

    def metrics_ports(self) -> dict[str, int]:
        """Each process's metrics port by name (gateway, identity, scheduler-N, <pool>-N), in plan
        order from `metrics_port`; all 0 (no endpoints) when it is 0."""
        names = ["gateway", "identity", *(f"scheduler-{n}" for n in range(self.schedulers))]
        names += [f"{pool}-{n}" for pool in POOLS for n in range(self.workers)]
        if self.metrics_port == 0:
            return dict.fromkeys(names, 0)
        return {name: self.metrics_port + i for i, name in enumerate(names)}

    async def start(self) -> None:
        """Start the S3 server if needed, then every service process."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        if not env.get("MEDIACRAFT_OBJECT_STORE_URL", "").startswith("s3://"):
            secret_key = local_secrets(self.data_dir, [SEAWEED_SECRET_KEY])[SEAWEED_SECRET_KEY]
            self.s3 = await asyncio.to_thread(start_seaweed, self.data_dir / "seaweed", secret_key=secret_key)
            env["MEDIACRAFT_OBJECT_STORE_URL"] = self.s3.url("mediacraft")
            log.info("started SeaweedFS", endpoint=self.s3.endpoint)
            self.s3_supervisor = asyncio.create_task(self._supervise_seaweed(self.s3))
        if not become_subreaper():
            log.info("not a child subreaper here: what a dead service leaves running is not ended")
        self.children = self.plan(env)
        width = max(len(c.name) for c in self.children)
        for child in self.children:
            await self._spawn(child)
            child.supervisor = asyncio.create_task(self._supervise(child, width))
        log.info("stack started", gateway=f"http://127.0.0.1:{self.port}", processes=len(self.children))
        if self.metrics_port:
            log.info(
                "metrics endpoints",
                **{name: f"http://127.0.0.1:{p}/metrics" for name, p in self.metrics_ports().items()},
            )

    async def _spawn(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            child.module,
            env=child.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        if self.stopping.is_set():  # the stack began to stop while this one started
            child.process.send_signal(signal.SIGTERM)

    async def _supervise(self, child: Child, width: int) -> None:
        """Copy a child's output, each line prefixed with its name; start it again when it ends
        on its own, until the stack stops."""
        prefix = f"{child.name:>{width}} | ".encode()
        delay = 0.0
        loop = asyncio.get_running_loop()
        while True:
            process = child.process
            assert process is not None and process.stdout is not None
            started = loop.time()
            copying = asyncio.create_task(_copy_lines(process.stdout, prefix))
            code = await _exited(process)
            await self._end_leftovers(child.name)
            try:  # the rest of its output
                await asyncio.wait_for(asyncio.gather(copying, process.wait()), OUTPUT_DRAIN_SECONDS)
            except TimeoutError:
                pass
            if self.stopping.is_set():
                log.info("process exited", service=child.name, code=code)
                return
            delay = 0.0 if loop.time() - started >= RESTART_RESET_SECONDS else next_restart_delay(delay)
            log.warning(
                "process exited on its own; starting it again",
                service=child.name,
                code=code,
                in_seconds=delay,
                restarts=child.restarts + 1,
            )
            if delay:
                try:
                    await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                except TimeoutError:
                    pass
            if self.stopping.is_set():
                return
            await self._spawn(child)
            child.restarts += 1

    async def _supervise_seaweed(self, server: S3Server) -> None:
        """Start the S3 server again (same ports and data) when it ends on its own, with the same
        backoff as the services, until the stack stops."""
        delay = 0.0
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            started = loop.time()
            while server.process is not None and server.process.poll() is None:
                try:
                    await asyncio.wait_for(self.stopping.wait(), timeout=EXIT_POLL_SECONDS)
                    return
                except TimeoutError:
                    pass
            code = server.process.returncode if server.process is not None else None
            delay = 0.0 if loop.time() - started >= RESTART_RESET_SECONDS else next_restart_delay(delay)
            log.warning(
                "process exited on its own; starting it again",
                service="seaweedfs",
                code=code,
                in_seconds=delay,
                restarts=self.s3_restarts + 1,
            )
            if delay:
                try:
                    await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                    return
                except TimeoutError:
                    pass
            reason = await asyncio.to_thread(relaunch_seaweed, server)
            self.s3_restarts += 1
            if reason is None:
                log.info("SeaweedFS serving again", endpoint=server.endpoint, restarts=self.s3_restarts)
            else:
                log.error("SeaweedFS did not start again", endpoint=server.endpoint, reason=reason.splitlines()[0])

    async def _end_leftovers(self, service: str) -> None:
        """Kill and reap the processes a service left behind (reparented to this subreaper)."""
        ours = {c.process.pid for c in self.children if c.process is not None}
        if self.s3 is not None and self.s3.process is not None:
            ours.add(self.s3.process.pid)
        leftovers = await asyncio.to_thread(end_leftovers, ours)
        if leftovers:
            log.warning("ended what a dead service left running", service=service, pids=leftovers)

    async def stop(self) -> None:
        """SIGTERM in reverse start order (workers hand back jobs), then SIGKILL after the grace."""
        self.stopping.set()
        for child in reversed(self.children):
            if child.process is not None and child.process.returncode is None:
                child.process.send_signal(signal.SIGTERM)
        supervisors = [c.supervisor for c in self.children if c.supervisor is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*supervisors, return_exceptions=True), timeout=self.grace)
        except TimeoutError:
            for child in self.children:
                if child.process is not None and child.process.returncode is None:
                    log.warning("killing", service=child.name)
                    os.killpg(child.process.pid, signal.SIGKILL)
            await asyncio.gather(*(_exited(c.process) for c in self.children if c.process is not None))
            # their supervisors were cancelled with the wait: end what the killed services left
            await self._end_leftovers("stack")
        if self.s3_supervisor is not None:
            await self.s3_supervisor
        if self.s3 is not None:
            await asyncio.to_thread(stop_seaweed, self.s3, remove_data=False)
        log.info("stack stopped")


async def _exited(process: asyncio.subprocess.Process) -> int:
    """The exit code, as soon as the process has ended: `wait()` also waits for its pipes to close,
    which a process it left behind may hold open."""
    waiting = asyncio.ensure_future(process.wait())
    while process.returncode is None:
        await asyncio.wait({waiting}, timeout=EXIT_POLL_SECONDS)
    waiting.cancel()  # done already, or held up by such a pipe
    return process.returncode


async def _copy_lines(stream: asyncio.StreamReader, prefix: bytes) -> None:
    async for line in stream:
        sys.stdout.buffer.write(prefix + line)
        sys.stdout.buffer.flush()


def become_subreaper() -> bool:
    """Become the parent of orphans among this process's descendants (Linux), rather than init."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def children_of(parent: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of every process whose parent is `parent`, from /proc."""
    found: list[tuple[int, bytes]] = []
    if not os.path.isdir("/proc"):
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            if ppid == parent:
                with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                    found.append((int(entry.name), fh.read()))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


def end_leftovers(ours: set[int]) -> list[int]:
    """Kill and reap this process's children other than `ours` and services being started: what
    dead services left behind. Returns their pids."""
    leftovers = [pid for pid, cmdline in children_of(os.getpid()) if pid not in ours and b"mediacraft." not in cmdline]
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:  # a group leader (ffmpeg is): its group goes with it
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    for pid in leftovers:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return leftovers


def next_restart_delay(previous: float) -> float:
    """The wait before restarting a process that ended soon after its start, given the last wait."""
    return min(RESTART_MAX_DELAY, max(RESTART_FIRST_DELAY, previous * 2))


async def run_stack(stack: Stack) -> None:
    """Run until SIGINT/SIGTERM, then stop everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stack.start()
    try:
        await stop.wait()
    finally:
        await stack.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of `make stack` and `python -m mediacraft.standalone.stack`."""
    parser = argparse.ArgumentParser(prog="mediacraft-stack", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="processes per worker pool")
    parser.add_argument("--schedulers", type=int, default=1, help="scheduler replicas (one active, the rest standby)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MEDIACRAFT_HTTP_PORT", "8000")))
    parser.add_argument("--identity-port", type=int, default=8001)
    parser.add_argument("--data-dir", default=os.path.join(os.environ.get("MEDIACRAFT_DATA_DIR", "./var"), "stack"))
    parser.add_argument("--grace", type=float, default=30.0, help="seconds services get to stop")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("MEDIACRAFT_METRICS_PORT", "0")),
        help="first of the processes' metrics ports, one each in plan order (0: none)",
    )
    args = parser.parse_args(argv)
    configure_logging("INFO", json=False, service="stack")
    stack = Stack(
        data_dir=Path(args.data_dir).resolve(),
        port=args.port,
        identity_port=args.identity_port,
        workers=args.workers,
        schedulers=args.schedulers,
        grace=args.grace,
        metrics_port=args.metrics_port,
    )
    eventloop.run(run_stack(stack))


if __name__ == "__main__":
    main()
