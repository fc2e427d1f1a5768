"""A long run under steady load: no task lost, none failed, no process crashed, memory flat.

    python -m bench.soak [--mode standalone|stack] [--minutes 3] [--visitors 10] [--rate R]

The product's promise is "no crash and no lost task in a 24-hour run": `--minutes 1440` is that
run; the default is a short one for `make bench`. The product starts as a person starts it (a real
process, production timers; the stack on a RabbitMQ vhost of its own, with the SeaweedFS it starts
itself), and `--visitors` visitors submit a steady mix of image and video generations, merges and
watermark removals at `--rate` tasks per second in all (by default 80 % of what the per-identity
create limit lets them: a refusal with 429 is counted and honoured, never retried early). Every
`--sample-seconds` it records each service process's memory (RSS), open file descriptors and
threads, and times status queries and listings as a client sees them.

Figures are against a baseline measured in the same run: memory after a warm-up (the first fifth
of the run) against the end, as MB per 1,000 tasks; status latency and throughput of the first
window against the last. At the end, submission stops, the run waits for every task to finish
(bounded by `--drain-minutes`), and every submitted task must be found, exactly once, completed.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench._stats import percentile
from mediacraft.gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench" / "soak"
TERMINAL = {"completed", "failed", "cancelled", "expired"}
CREATE_RATE_PER_VISITOR = GatewaySettings.model_fields["rate_create_per_second"].default
LOGO = (200, 20, 80, 40)


@dataclass
class Sample:
    """One reading: seconds since the load started, tasks submitted, and per-process resources."""

    at: float
    submitted: int
    completed: int
    rss_mb: dict[str, float]
    fds: dict[str, int]
    threads: dict[str, int]
    status_ms: list[float]
    list_ms: list[float]


@dataclass
class Load:
    """What the visitors did and saw."""

    submitted: list[tuple[Any, str]] = field(default_factory=list)  # (visitor, task id)
    refused: Counter[str] = field(default_factory=Counter)  # code -> count (rate limits included)
    errors: list[str] = field(default_factory=list)  # transport errors, unexpected answers
    blocked_until: dict[str, float] = field(default_factory=dict)  # visitor -> monotonic time (Retry-After)


def processes(product: Any) -> dict[str, psutil.Process]:
    """The product's service processes by name: the one process, or the stack's services."""
    if product.mode == "standalone":
        return {"standalone": psutil.Process(product.process.pid)}
    found: dict[str, psutil.Process] = {}
    for module, procs in product.services().items():
        for n, proc in enumerate(procs, start=1):
            found[f"{module}-{n}" if len(procs) > 1 or module.startswith("worker") else module] = proc
    return found


def read_resources(procs: dict[str, psutil.Process]) -> tuple[dict[str, float], dict[str, int], dict[str, int]]:
    rss: dict[str, float] = {}
    fds: dict[str, int] = {}
    threads: dict[str, int] = {}
    for name, proc in procs.items():
        try:
            with proc.oneshot():
                rss[name] = proc.memory_info().rss / 2**20
                fds[name] = proc.num_fds()
                threads[name] = proc.num_threads()
        except psutil.NoSuchProcess:
            pass
    return rss, fds, threads


class Submitter:
    """Round-robin over visitors and task kinds; every request distinct (no duplicate suppression)."""

    def __init__(self, visitors: list[Any], clips: list[Path], logo_clip: Path, load: Load) -> None:
        self.visitors = visitors
        self.orders = itertools.cycle(list(itertools.permutations(clips, 3)))
        self.logo_clip = logo_clip
        self.load = load
        self.n = 0

    def submit_next(self) -> None:
        n = self.n
        self.n += 1
        now = time.monotonic()
        ready = [v for v in self.visitors if self.load.blocked_until.get(v.name, 0) <= now]
        if not ready:
            self.load.refused["skipped: every visitor waiting out a 429"] += 1
            return
        visitor = ready[n % len(ready)]
        kind = n % 4
        try:
            if kind == 0:
                reply = self._post(
                    visitor,
                    "/api/tasks/submit",
                    {
                        "task_type": "image_generation",
                        "config": {"prompt": f"soak image {n}", "width": 96, "height": 64},
                    },
                )
            elif kind == 1:
                reply = self._post(
                    visitor,
                    "/api/tasks/submit",
                    {
                        "task_type": "video_generation",
                        "config": {"prompt": f"soak video {n}", "duration": 1, "width": 160, "height": 90},
                    },
                )
            else:
                reply = self._post(
                    visitor, "/api/tasks/create", {"task_type": "video_merge" if kind == 2 else "watermark_removal"}
                )
                if reply is not None:
                    task_id = reply["task_id"]
                    if kind == 2:
                        visitor.upload(task_id, *next(self.orders))
                        visitor.submit(task_id, {})
                    else:
                        visitor.upload(task_id, self.logo_clip)
                        x, y, w, h = LOGO
                        grow = n % 16  # a different region each time within the duplicate window
                        visitor.submit(task_id, {"regions": [[x - grow, y, w + grow, h]], "method": "delogo"})
        except (httpx.TransportError, AssertionError) as exc:  # AssertionError: the client's ApiFailure
            self.load.errors.append(f"{visitor.name}: {exc}")
            return
        if reply is not None:
            self.load.submitted.append((visitor, reply["task_id"]))

    def _post(self, visitor: Any, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The task data; None after a 429, whose Retry-After the visitor then waits out."""
        reply = visitor.http.post(path, json=body)
        if reply.status_code == 429:
            self.load.refused[f"429 {reply.json()['error_code']}"] += 1
            wait = float(reply.headers.get("retry-after") or 1 / CREATE_RATE_PER_VISITOR)
            self.load.blocked_until[visitor.name] = time.monotonic() + wait
            return None
        if reply.status_code not in (201, 202):
            raise AssertionError(f"POST {path} -> {reply.status_code} {reply.text[:300]}")
        return reply.json()["data"]


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def statuses(visitors: list[Any]) -> dict[str, str]:
    """Every task of every visitor, by id (following each listing's cursor)."""
    found: dict[str, str] = {}
    for visitor in visitors:
        for task in visitor.all_tasks():
            if task["task_id"] in found:
                found[task["task_id"] + " (listed twice)"] = task["status"]
            found[task["task_id"]] = task["status"]
    return found


def run(args: argparse.Namespace, settings: dict[str, str]) -> int:
    from tests.e2e.flows.client import Visitor
    from tests.e2e.flows.product import ProductProcess
    from tests.fixtures.media import make_clip

    root = Path(tempfile.mkdtemp(prefix=f"{args.mode}-", dir=WORK))
    clips = [make_clip(root / f"part-{i}.mp4", width=320, height=180, duration=1.0, fps=25) for i in range(4)]
    logo_clip = make_clip(root / "logo.mp4", width=320, height=180, duration=1.0, fps=25, watermark=LOGO)
    product = ProductProcess(args.mode, root / "data", root / "product.log", settings, timers={})
    product.start(timeout=180)
    print(f"{args.mode}: ready in {product.ready_seconds:.1f} s; log {product.log_path}", flush=True)
    visitors = [Visitor(product.url, f"visitor-{n}", timeout=60) for n in range(args.visitors)]
    load = Load()
    submitter = Submitter(visitors, clips, logo_clip, load)
    procs = processes(product)
    pids = {name: p.pid for name, p in procs.items()}
    samples: list[Sample] = []
    pause = threading.Event()
    rate = args.rate or 0.8 * CREATE_RATE_PER_VISITOR * args.visitors
    started = time.monotonic()
    end = started + args.minutes * 60
    next_sample = started
    try:
        while (now := time.monotonic()) < end:
            submitter.submit_next()
            if now >= next_sample:
                samples.append(sample(visitors, load, procs, now - started))
                s = samples[-1]
                print(
                    f"  {s.at:6.0f} s: {s.submitted} submitted, {s.completed} completed; RSS "
                    + ", ".join(f"{k} {v:.0f}" for k, v in s.rss_mb.items())
                    + f" MB; status p99 {percentile(sorted(s.status_ms), 0.99):.1f} ms",
                    flush=True,
                )
                next_sample = now + args.sample_seconds
            # paced: the n-th submit is due n / rate seconds after the start
            pause.wait(max(0.0, started + submitter.n / rate - time.monotonic()))
        load_seconds = time.monotonic() - started
        final = drain(visitors, load, args.drain_minutes * 60, pause)
        samples.append(sample(visitors, load, procs, time.monotonic() - started))
        survivors = {name: p.pid for name, p in processes(product).items()}
        log = product.run_log()
    finally:
        for visitor in visitors:
            visitor.close()
        try:
            code = product.stop(signal.SIGINT)
        except BaseException:
            product.kill()
            raise
    return report(args, load, samples, final, pids, survivors, log, code, load_seconds)


def sample(visitors: list[Any], load: Load, procs: dict[str, psutil.Process], at: float) -> Sample:
    rss, fds, threads = read_resources(procs)
    status_ms: list[float] = []
    list_ms: list[float] = []
    completed = 0
    try:
        for visitor, task_id in load.submitted[-20:]:
            status_ms.append(timed(functools.partial(visitor.status, task_id)))
        for visitor in visitors[:3]:
            list_ms.append(timed(functools.partial(visitor.tasks, limit=30)))
        completed = sum(v.tasks(limit=1)["counts"].get("completed", 0) for v in visitors)
    except (httpx.TransportError, AssertionError) as exc:
        load.errors.append(f"sampling: {exc}")
    return Sample(at, len(load.submitted), completed, rss, fds, threads, status_ms, list_ms)


def drain(visitors: list[Any], load: Load, seconds: float, pause: threading.Event) -> dict[str, str]:
    """Wait (bounded) until every submitted task is in a final state; returns what the listings say."""
    deadline = time.monotonic() + seconds
    wanted = {task_id for _, task_id in load.submitted}
    found: dict[str, str] = {}
    while True:
        try:
            found = statuses(visitors)
        except (httpx.TransportError, AssertionError) as exc:
            load.errors.append(f"listing: {exc}")
        if all(found.get(t) in TERMINAL for t in wanted) or time.monotonic() > deadline:
            return found
        pause.wait(2.0)  # a listing per visitor every 2 s keeps well inside the request limits


def report(
    args: argparse.Namespace,
    load: Load,
    samples: list[Sample],
    final: dict[str, str],
    pids: dict[str, int],
    survivors: dict[str, int],
    log: str,
    code: int,
    load_seconds: float,
) -> int:
    wanted = {task_id for _, task_id in load.submitted}
    lost = sorted(wanted - set(final))
    extra = sorted(set(final) - wanted)
    outcome = Counter(final.get(t, "lost") for t in wanted)
    crashed = sorted(name for name, pid in pids.items() if survivors.get(name) != pid)
    restarts = log.count("starting it again")
    print(
        f"\n{args.mode}, {args.minutes:g} min of load, {args.visitors} visitors, {len(wanted)} tasks "
        f"({len(wanted) / load_seconds:.2f}/s); refused: {dict(load.refused) or 'none'}; "
        f"client errors: {len(load.errors)}"
    )
    for error in load.errors[:5]:
        print(f"  {error[:300]}")
    print(f"tasks at the end: {dict(outcome)}")
    warm = next((s for s in samples if s.at >= load_seconds / 5), samples[0])
    last = samples[-1]
    grown_tasks = max(1, last.submitted - warm.submitted)
    print(f"memory, after the warm-up ({warm.at:.0f} s, {warm.submitted} tasks) -> end ({last.submitted} tasks):")
    for name in sorted(last.rss_mb):
        before, after = warm.rss_mb.get(name, float("nan")), last.rss_mb[name]
        print(
            f"  {name:<18} {before:7.1f} -> {after:7.1f} MB ({after - before:+.1f} MB, "
            f"{(after - before) * 1000 / grown_tasks:+.2f} per 1,000 tasks); "
            f"fds {warm.fds.get(name)} -> {last.fds.get(name)}; "
            f"threads {warm.threads.get(name)} -> {last.threads.get(name)}"
        )
    windows = [s for s in samples[:-1] if s.status_ms and s.at >= warm.at]  # the last one is after the drain
    if len(windows) >= 2:
        first, end = windows[0], windows[-1]
        p99 = lambda s: percentile(sorted(s.status_ms), 0.99)  # noqa: E731
        lst = lambda s: percentile(sorted(s.list_ms), 0.99)  # noqa: E731
        print(
            f"status p99 (20 queries a window): after the warm-up {p99(first):.1f} ms, last window {p99(end):.1f} ms "
            f"(ratio {p99(end) / p99(first):.2f}); listing p99 {lst(first):.1f} -> {lst(end):.1f} ms"
        )
        rates = [(b.completed - a.completed) / (b.at - a.at) for a, b in itertools.pairwise(windows) if b.at > a.at]
        if len(rates) >= 2:
            half = len(rates) // 2
            print(
                f"completed per second: first half {statistics.mean(rates[:half]):.2f}, "
                f"second half {statistics.mean(rates[half:]):.2f}"
            )
    checks = {
        "every task found once": not lost and not extra,
        "every task completed": outcome == Counter({"completed": len(wanted)}),
        "no service process died": not crashed and restarts == 0,
        "no client error": not load.errors,
        "stopped cleanly": code == 0,
    }
    for what, ok in checks.items():
        print(f"  {what}: {'ok' if ok else 'FAILED'}")
    if lost or extra:
        print(f"  lost: {lost[:10]}; not submitted but listed: {extra[:10]}")
    if crashed or restarts:
        print(f"  processes replaced: {crashed}; restarts in the log: {restarts}")
    return 0 if all(checks.values()) else 1


def main(argv: list[str] | None = None) -> None:
    """Run the product under steady load for a while; print resources over time and the checks."""
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("standalone", "stack"), default="standalone")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the load runs (1440: a day)")
    parser.add_argument("--visitors", type=int, default=10)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="tasks per second in all (default: 80%% of the visitors' create limit)"
    )
    parser.add_argument("--sample-seconds", type=float, default=15.0)
    parser.add_argument("--drain-minutes", type=float, default=10.0, help="how long the end waits for tasks")
    args = parser.parse_args(argv)

    from bench.e2e import stack_settings

    WORK.mkdir(parents=True, exist_ok=True)
    settings, rabbit = stack_settings() if args.mode == "stack" else ({}, None)
    try:
        failed = run(args, settings)
    finally:
        if rabbit is not None:
            rabbit.end_session()
        shutil.rmtree(WORK, ignore_errors=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
