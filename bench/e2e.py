"""Platform overhead of a watermark removal: `python -m bench.e2e`.

For a 20 s 720p clip with a logo, it measures the time from submit (POST /config) to the result
being available through the API (the completed status on the live stream, then HEAD /download
answering 200), in standalone mode and in the local stack (RabbitMQ vhost of its own, SeaweedFS
started by the stack), each run as a real subprocess with the product's default settings. The
baseline is the worker's own processing time for the same clip and config: the watermark processor
called directly through a JobContext in this process, in the same run, alternating with the runs
through the API (each API run is compared with the mean of the direct runs just before and after
it, so load that comes and goes on the machine weighs on both sides; the median over the rounds is
printed).

    overhead = (submit -> result available) / worker processing time - 1

Targets: under 10 % standalone, under 15 % in the local stack. Upload time is not counted (the
clip is uploaded before the clock starts), nor is the product's start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench" / "e2e"
LOGO = (440, 40, 180, 60)
TARGETS = {"standalone": 0.10, "stack": 0.15}
JOB_TIMEOUT = 600.0


@dataclass(frozen=True)
class ApiRun:
    seconds: float  # submit -> result available
    queued: float  # submitted_at -> started_at, by the scheduler's clock
    running: float  # started_at -> completed_at, by the scheduler's clock


def worker_alone(clip: Path, config: dict[str, Any]) -> float:
    """Seconds the watermark processor takes on `clip` when called directly (a job dir as the runtime makes it)."""
    from mediacraft.shared.worker.contract import JobContext
    from mediacraft.worker_watermark.processor import process

    workdir = Path(tempfile.mkdtemp(prefix="alone-", dir=WORK))
    try:
        source = workdir / f"input-000{clip.suffix}"
        shutil.copyfile(clip, source)
        ctx = JobContext(
            task_id="bench",
            attempt=1,
            workdir=workdir,
            inputs=[source],
            input_names=[clip.name],
            config=config,
            task_type="watermark_removal",
        )
        started = time.perf_counter()
        result = process(ctx)
        elapsed = time.perf_counter() - started
        assert result.path.stat().st_size > 0
        return elapsed
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def through_api(visitor: Any, clip: Path, config: dict[str, Any]) -> ApiRun:
    """Upload the clip (not timed), then time submit -> completed on the stream -> HEAD /download answers 200."""
    from datetime import datetime

    task_id = visitor.create("watermark_removal")["task_id"]
    visitor.upload(task_id, clip)
    with visitor.events() as stream:
        started = time.perf_counter()
        visitor.submit(task_id, config)
        stream.wait_terminal([task_id], JOB_TIMEOUT)
        head = visitor.http.head(f"/api/tasks/{task_id}/download")
        elapsed = time.perf_counter() - started
    status = stream.status_of(task_id)
    assert status == "completed" and head.status_code == 200, (status, head.status_code)
    view = visitor.status(task_id)
    stamp = lambda key: datetime.fromisoformat(view[key].replace("Z", "+00:00"))  # noqa: E731
    return ApiRun(
        elapsed,
        (stamp("started_at") - stamp("submitted_at")).total_seconds(),
        (stamp("completed_at") - stamp("started_at")).total_seconds(),
    )


def measure_mode(mode: str, clip: Path, config: dict[str, Any], settings: dict[str, str], rounds: int) -> float:
    """Start the product once; alternate worker-alone and through-API runs; returns the median overhead."""
    from tests.e2e.flows.client import Visitor
    from tests.e2e.flows.product import ProductProcess

    root = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=WORK))
    product = ProductProcess(mode, root / "data", root / "product.log", settings, timers={})
    product.start(timeout=120)
    print(f"{mode}: ready in {product.ready_seconds:.1f} s", flush=True)
    visitor = Visitor(product.url, "bench", timeout=120)
    try:
        alone = [worker_alone(clip, {**config, "selected_frame": 0})]
        ratios = []
        for n in range(rounds):
            # a different selected frame per round: the same submit within seconds would be a duplicate
            this = {**config, "selected_frame": n}
            run = through_api(visitor, clip, this)
            alone.append(worker_alone(clip, this))
            baseline = statistics.mean(alone[-2:])
            ratios.append(run.seconds / baseline)
            print(
                f"  round {n + 1}: through the API {run.seconds:.2f} s (queued {run.queued:.2f} s, running "
                f"{run.running:.2f} s by the scheduler's clock); worker alone {alone[-2]:.2f} s before, "
                f"{alone[-1]:.2f} s after: {ratios[-1] - 1:+.1%}",
                flush=True,
            )
    finally:
        visitor.close()
        try:
            product.stop()
        except BaseException:
            product.kill()
            raise
    return statistics.median(ratios) - 1


def stack_settings() -> tuple[dict[str, str], Any]:
    """A RabbitMQ vhost of its own for the stack (deleted afterwards); SeaweedFS is the stack's own."""
    if os.environ.get("MEDIACRAFT_BUS_URL"):
        return {"MEDIACRAFT_BUS_URL": os.environ["MEDIACRAFT_BUS_URL"]}, None
    from tests.fixtures.rabbit import RabbitServer

    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    server = RabbitServer("127.0.0.1", 5672, "guest", "guest", ctl)
    server.start_session()
    return {"MEDIACRAFT_BUS_URL": server.new_vhost().url}, server


def main(argv: list[str] | None = None) -> None:
    """Print submit -> result time against the worker's own time, per mode, and the overhead."""
    parser = argparse.ArgumentParser(prog="bench.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="clip length")
    parser.add_argument("--modes", default="standalone,stack", help="comma-separated: standalone, stack")
    parser.add_argument("--rounds", type=int, default=3, help="through-API runs per mode")
    args = parser.parse_args(argv)

    from tests.fixtures.media import make_clip

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    clip = make_clip(WORK / "logo-720p.mp4", width=1280, height=720, fps=30, duration=args.seconds, watermark=LOGO)
    config = {"regions": [list(LOGO)], "method": "inpaint"}
    size_mb = clip.stat().st_size / 1e6
    print(
        f"clip: {args.seconds:g} s 1280x720 30 fps with a {LOGO[2]}x{LOGO[3]} logo, {size_mb:.1f} MB; method inpaint",
        flush=True,
    )

    # a first call warms the page cache, OpenCV and ffmpeg's libraries, as a long-running worker is warm
    print(f"worker alone, warm-up call: {worker_alone(clip, config):.2f} s (not counted)", flush=True)
    overheads: dict[str, float] = {}
    try:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            settings, rabbit = stack_settings() if mode == "stack" else ({}, None)
            try:
                overheads[mode] = measure_mode(mode, clip, config, settings, args.rounds)
            finally:
                if rabbit is not None:
                    rabbit.end_session()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)

    print(
        f"\nplatform overhead (median of {args.rounds} rounds, each against the mean of the worker-alone runs"
        " around it)"
    )
    for mode, overhead in overheads.items():
        target = TARGETS.get(mode, 0.15)
        print(f"  {mode:<11} {overhead:+7.1%}   target < {target:.0%}: {'ok' if overhead < target else 'OVER'}")


if __name__ == "__main__":
    main()
