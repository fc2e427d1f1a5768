"""Media workers against the ffmpeg floor, measured in one run on generated clips.

    python -m bench.media [--duration 20] [--repeat 3] [--box 1040,40,200,60] [--memory-seconds 5]

Generates a 720p30 clip with a watermark box and a sine track (`tests.fixtures.media.make_clip`)
and times the following; the workers run through their own entry point (`process(JobContext)`,
so their safe probing of inputs and output is included):

- floor: a plain ffmpeg transcode of the clip at the watermark worker's encoder settings
  (libx264, same preset and CRF, audio copied, MP4 +faststart): what any re-encoding method
  costs at least;
- delogo and inpaint: the watermark worker's two methods on the same clip;
- inpaint, serial loop: the straightforward read-inpaint-write Python loop over the same ffmpeg
  processes and windows, for reference (what the threaded pipeline must beat);
- merge, stream copy: the merge worker on two copies of the clip (they match, so nothing is
  re-encoded); its target is 20x the floor, i.e. 20x re-encoding the same clips;
- merge, normalise: the merge worker on the clip plus a 360p25 mono clip (mismatched, so all is
  re-encoded to the largest input's format).

Each figure is frames of output per second of wall time and its ratio to the floor, beside the CPU
time per frame of this process and its children (which other load on the machine barely
changes, unlike wall time); every measurement is repeated `--repeat` times, interleaved, and the
best kept, since other work on a shared machine only ever slows a run down. Last, the peak
resident memory of this process and its children (ffmpeg included), sampled with psutil, while
the inpaint method cleans a 1080p clip.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import psutil

from mediacraft.shared.media import FfmpegProcess, MediaLimits, probe_media, run_ffmpeg
from mediacraft.shared.watermark import parse_watermark_config
from mediacraft.shared.worker.contract import JobContext, Processor
from mediacraft.worker_merge.processor import process as merge_process
from mediacraft.worker_watermark.detect import detect_watermarks
from mediacraft.worker_watermark.encoder import EncoderSettings
from mediacraft.worker_watermark.inpaint import decoder_args, encoder_args, remux_args
from mediacraft.worker_watermark.processor import WatermarkOptions
from mediacraft.worker_watermark.processor import process as watermark_process
from mediacraft.worker_watermark.regions import frame_regions
from mediacraft.worker_watermark.windows import frame_bytes, plan_windows, plane_shapes
from tests.fixtures.media import make_clip

MB = 1024 * 1024
TARGETS = {"delogo": 0.85, "inpaint": 0.5, "auto": 0.4, "merge, stream copy": 20.0}
DETECT_TARGET_SECONDS = 3.0
MEMORY_TARGET_MB = 500


@dataclass
class Row:
    name: str
    frames: int
    seconds: float
    cpu: float = 0.0  # CPU seconds of this process and its children
    note: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000 * self.cpu / self.frames


class Stopwatch:
    """Wall time and CPU time (this process and its waited-for children) of a block."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, _cpu_seconds() - self._cpu


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None) -> None:
    """Generate the clips, run every measurement, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.media", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of 720p30 test clip")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best is kept")
    parser.add_argument("--box", default="1040,40,200,60", help="watermark x,y,w,h in the 720p frame")
    parser.add_argument("--detect-seconds", type=float, default=60.0, help="length of the 720p detection clip")
    parser.add_argument("--memory-seconds", type=float, default=5.0, help="length of the 1080p memory clip")
    args = parser.parse_args(argv)
    box = tuple(int(v) for v in args.box.split(","))
    options = WatermarkOptions()
    encoder = options.encoder

    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        root = Path(tmp)
        print(
            f"generating a {args.duration:g} s 1280x720 30 fps clip with a {box[2]}x{box[3]} watermark ...", flush=True
        )
        clip = make_clip(root / "clip.mp4", width=1280, height=720, fps=30, duration=args.duration, watermark=box)
        other = make_clip(
            root / "other.mp4", width=640, height=360, fps=25, duration=args.duration / 4, channels=1, sample_rate=44100
        )
        frames = probe_media(clip).media.frame_count or 0
        regions = [list(box)]

        runs: dict[str, Callable[[], Row]] = {
            "ffmpeg floor (transcode)": lambda: _floor(clip, root, encoder, frames),
            "delogo": lambda: _processor_row(
                "delogo", watermark_process, [clip], root, {"regions": regions, "method": "delogo"}, frames
            ),
            "inpaint": lambda: _processor_row(
                "inpaint", watermark_process, [clip], root, {"regions": regions, "method": "inpaint"}, frames
            ),
            "auto": lambda: _processor_row(
                "auto", watermark_process, [clip], root, {"regions": regions, "method": "auto"}, frames
            ),
            "inpaint, serial loop (reference)": lambda: _serial_inpaint(clip, root, box, options, frames),
            "merge, stream copy": lambda: _processor_row(
                "merge, stream copy", merge_process, [clip, clip], root, {}, None
            ),
            "merge, normalise": lambda: _processor_row(
                "merge, normalise", merge_process, [clip, other], root, {}, None
            ),
        }

        best: dict[str, Row] = {}
        for round_number in range(1, args.repeat + 1):
            print(f"round {round_number}/{args.repeat} ...", flush=True)
            for name, run in runs.items():
                row = run()
                if name not in best or row.fps > best[name].fps:
                    best[name] = row

        print(
            f"\nlibx264 preset={encoder.preset} crf={encoder.crf}; best of {args.repeat}; "
            f"{psutil.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in psutil.getloadavg())}"
        )
        floor = best["ffmpeg floor (transcode)"].fps
        print(f"{'measurement':34} {'frames':>7} {'seconds':>8} {'fps':>8} {'x floor':>8} {'cpu ms/f':>9}  target")
        for name, row in best.items():
            ratio = row.fps / floor
            target = TARGETS.get(name)
            verdict = "" if target is None else f">= {target:g}  {'ok' if ratio >= target else 'MISSED'}"
            print(
                f"{name:34} {row.frames:7d} {row.seconds:8.2f} {row.fps:8.1f} {ratio:8.2f} "
                f"{row.cpu_ms_per_frame:9.2f}  {verdict}  {row.note}".rstrip()
            )

        if max(psutil.getloadavg()) > (psutil.cpu_count() or 1):
            print(
                "warning: other work kept the CPUs busy during the run; the wall-clock ratios are "
                "unreliable (the cpu ms/f column much less so)"
            )

        print("\nmeasuring peak memory of the inpaint method on 1080p ...", flush=True)
        big = make_clip(
            root / "big.mp4",
            width=1920,
            height=1080,
            fps=30,
            duration=args.memory_seconds,
            watermark=(1560, 60, 300, 90),
        )
        peak, baseline, parts = _peak_memory(
            lambda: _processor_row(
                "inpaint 1080p",
                watermark_process,
                [big],
                root,
                {"regions": [[1560, 60, 300, 90]]},
                None,
            )
        )
        verdict = "ok" if peak < MEMORY_TARGET_MB * MB else "MISSED"
        breakdown = ", ".join(f"{name} {rss / MB:.0f}" for name, rss in sorted(parts.items()))
        print(
            f"peak RSS of the worker process and its children, inpaint on 1920x1080: {peak / MB:.0f} MB "
            f"(target < {MEMORY_TARGET_MB} MB)  {verdict}"
        )
        print(f"  at the peak, MB: {breakdown}; python before the job: {baseline / MB:.0f} MB")

        print("\nmeasuring peak memory of the auto method on 1080p ...", flush=True)
        peak, baseline, parts = _peak_memory(
            lambda: _processor_row(
                "auto 1080p",
                watermark_process,
                [big],
                root,
                {"regions": [[1560, 60, 300, 90]], "method": "auto"},
                None,
            )
        )
        verdict = "ok" if peak < MEMORY_TARGET_MB * MB else "MISSED"
        breakdown = ", ".join(f"{name} {rss / MB:.0f}" for name, rss in sorted(parts.items()))
        print(
            f"peak RSS of the worker process and its children, auto on 1920x1080: {peak / MB:.0f} MB "
            f"(target < {MEMORY_TARGET_MB} MB)  {verdict}"
        )
        print(f"  at the peak, MB: {breakdown}; python before the job: {baseline / MB:.0f} MB")

        print(f"\ngenerating a {args.detect_seconds:g} s 1280x720 30 fps clip for detection ...", flush=True)
        long_clip = make_clip(
            root / "long.mp4", width=1280, height=720, fps=30, duration=args.detect_seconds, watermark=box
        )
        seconds = min(_timed(lambda: detect_watermarks(long_clip)) for _ in range(args.repeat))
        found = detect_watermarks(long_clip)
        verdict = "ok" if seconds < DETECT_TARGET_SECONDS else "MISSED"
        print(
            f"detection of a {args.detect_seconds:g} s 720p clip: {seconds:.2f} s "
            f"(target < {DETECT_TARGET_SECONDS:g} s)"
            f"  {verdict}; {found.state}: {[r.box for r in found.regions]} (true box {list(box)})"
        )


def _floor(clip: Path, root: Path, encoder: EncoderSettings, frames: int) -> Row:
    """A plain transcode through the same safe runner and input arguments as the workers."""
    source = probe_media(clip)
    out = root / "floor.mp4"
    with Stopwatch() as watch:
        run_ffmpeg(
            [
                *source.input_args(limits=MediaLimits()),
                "-map",
                "0:v:0",
                "-map",
                "0:a?",
                *encoder.video_args(),
                *encoder.audio_args(source.audio),
                *encoder.container_args(),
                str(out),
            ],
            outputs=[out],
        )
    out.unlink()
    return Row("floor", frames, watch.wall, watch.cpu)


def _timed(job: Callable[[], object]) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def _processor_row(
    name: str, processor: Processor, inputs: list[Path], root: Path, config: dict[str, object], frames: int | None
) -> Row:
    workdir = Path(tempfile.mkdtemp(prefix="job-", dir=root))
    try:
        copies = []
        for number, path in enumerate(inputs):
            copies.append(workdir / f"input-{number:03d}{path.suffix}")
            shutil.copyfile(path, copies[-1])
        ctx = JobContext(
            task_id="bench",
            attempt=1,
            workdir=workdir,
            inputs=copies,
            input_names=[p.name for p in inputs],
            config=config,
        )
        with Stopwatch() as watch:
            result = processor(ctx)
        count = frames if frames is not None else (result.media.frame_count if result.media else 0) or 0
        method = result.info.get("method")
        return Row(name, count, watch.wall, watch.cpu, note=f"({method})" if method and method not in name else "")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _serial_inpaint(clip: Path, root: Path, box: tuple[int, ...], options: WatermarkOptions, frames: int) -> Row:
    """The straightforward loop: read a frame, inpaint it, write it; one thread, one frame at a time.

    Same ffmpeg commands, windows and radii as the worker's pipeline: only the loop differs.
    """
    source = probe_media(clip)
    width, height = source.media.width or 0, source.media.height or 0
    regions = frame_regions(parse_watermark_config({"regions": [list(box)]}), width, height)
    windows = plan_windows(regions, width, height, radius=options.default_radius, grow=options.grow)
    rate = source.main_video.avg_frame_rate if source.main_video is not None else None
    if rate is None:
        raise SystemExit(f"{clip}: ffprobe gives no average frame rate")
    size = frame_bytes(width, height)
    video, out = root / "serial.video.mp4", root / "serial.mp4"
    with Stopwatch() as watch:
        with (
            FfmpegProcess(decoder_args(source, options.limits, width, height, rate), stdout=subprocess.PIPE) as dec,
            FfmpegProcess(
                encoder_args(source, width, height, rate, video, options.encoder),
                stdin=subprocess.PIPE,
                outputs=[video],
            ) as enc,
        ):
            assert dec.stdout is not None and enc.stdin is not None
            while len(data := dec.stdout.read(size)) == size:
                frame = np.frombuffer(data, dtype=np.uint8).copy()
                planes, offset = [], 0
                for rows, cols in plane_shapes(width, height):
                    planes.append(frame[offset : offset + rows * cols].reshape(rows, cols))
                    offset += rows * cols
                for w in windows:
                    view = planes[w.plane][w.box.top : w.box.bottom, w.box.left : w.box.right]
                    view[...] = cv2.inpaint(view, w.mask, w.radius, cv2.INPAINT_TELEA)
                enc.stdin.write(frame.tobytes())
        run_ffmpeg(remux_args(source, options.limits, video, out, options.encoder), outputs=[out])
    video.unlink()
    out.unlink()
    return Row("serial", frames, watch.wall, watch.cpu)


def _peak_memory(job: Callable[[], object]) -> tuple[int, int, dict[str, int]]:
    """Run `job` while sampling the RSS of this process and all its children.

    Returns (peak total, RSS before the job, the per-process RSS at the peak).
    """
    me = psutil.Process()
    baseline = me.memory_info().rss
    peak, at_peak = baseline, {"python": baseline}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, at_peak
        while not done.wait(0.02):
            parts: dict[str, int] = {}
            for proc in [me, *me.children(recursive=True)]:
                try:
                    parts[_role(proc, me)] = parts.get(_role(proc, me), 0) + proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            total = sum(parts.values())
            if total > peak:
                peak, at_peak = total, parts

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        job()
    finally:
        done.set()
        sampler.join()
    return peak, baseline, at_peak


def _role(proc: psutil.Process, me: psutil.Process) -> str:
    if proc.pid == me.pid:
        return "python"
    args = proc.cmdline()
    if "pipe:1" in args:
        return "ffmpeg decoder"
    if "pipe:0" in args:
        return "ffmpeg encoder"
    return args[0].rsplit("/", 1)[-1] if args else "other"


if __name__ == "__main__":
    main()
