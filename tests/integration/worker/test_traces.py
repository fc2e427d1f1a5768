"""The worker runtime in its job's trace: a span for the job under the dispatch that sent it, one per
stage inside it, a failed stage marked so, and every event it sends (started, progress, the
outcome) in the same trace; a job sent outside any trace makes no span."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.messages import Envelope, RunJob
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import InputFile, TaskType
from mediacraft.shared.topology import EVENTS, JOBS
from mediacraft.shared.tracing import trace_id_of
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from tests.fixtures.tracing import LogLines, in_trace
from tests.fixtures.waiting import eventually
from tests.fixtures.worker_rig import WorkerRig

DISPATCH = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # the scheduler's dispatch span
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
OUTCOMES = {"job.succeeded", "job.failed", "job.cancelled"}


def copy_processor(ctx: JobContext) -> ProcessorResult:
    out = ctx.workdir / "result.bin"
    shutil.copyfile(ctx.inputs[0], out)
    ctx.report(0.5, "copying")
    return ProcessorResult(path=out, content_type="application/octet-stream", filename="result.bin")


def bad_input(ctx: JobContext) -> ProcessorResult:
    raise InvalidInput("the clip has no video stream", code="invalid_media")


async def run_job(rig: WorkerRig, task_id: str, traceparent: str | None) -> list[Envelope]:
    """Publish a job (in `traceparent`'s trace, or none) and return the envelopes of its events up
    to the outcome."""
    envelopes: asyncio.Queue[Envelope] = asyncio.Queue()

    async def collect(incoming: Incoming) -> None:
        if incoming.envelope.correlation_id == task_id:
            await envelopes.put(incoming.envelope)

    await rig.bus.consume(await rig.bus.declare_private_queue([(EVENTS, "job.#")]), collect, prefetch=100)
    src = rig.tmp / f"{task_id}.src"
    src.write_bytes(b"x" * 4096)
    key = f"uploads/u1/{task_id}/clip.mp4"
    await rig.objects.put_file(key, src)
    job = RunJob(
        task_id=task_id,
        user_id="u1",
        attempt=1,
        task_type=TaskType.WATERMARK_REMOVAL,
        inputs=[InputFile(key=key, original_name="clip.mp4", size=4096)],
        output_key=f"results/{task_id}/1/",
    )
    await rig.bus.publish(JOBS, "watermark", Envelope.wrap(job, correlation_id=task_id, traceparent=traceparent))
    seen: list[Envelope] = []
    while not seen or seen[-1].type not in OUTCOMES:
        seen.append(await asyncio.wait_for(envelopes.get(), 15))
    return seen


async def test_a_job_runs_in_its_trace_with_a_span_per_stage(
    tmp_path: Path, spans: InMemorySpanExporter, log_lines: LogLines
) -> None:
    async with WorkerRig(tmp_path, "watermark", copy_processor) as rig:
        events = await run_job(rig, "t-traced", DISPATCH)

    assert events[0].type == "job.started" and events[-1].type == "job.succeeded"
    assert {trace_id_of(e.traceparent) for e in events} == {TRACE_ID}  # every event it sent
    found = await eventually(
        lambda: (got := {s.name: s for s in in_trace(spans, TRACE_ID)}) and "worker job" in got and got,
        what="the job's span",
    )
    job = found["worker job"]
    assert job.kind is SpanKind.CONSUMER and job.parent is not None and job.parent.span_id == 0xB7AD6B7169203331
    assert job.context is not None
    for name in ("download", "process", "upload"):
        assert found[name].parent is not None and found[name].parent.span_id == job.context.span_id
    assert found["download"].end_time <= found["process"].start_time
    assert found["process"].end_time <= found["upload"].start_time
    [finished] = [line for line in log_lines.about("t-traced") if line["event"] == "job finished"]
    assert finished["trace_id"] == TRACE_ID


async def test_a_failed_stage_is_marked_and_the_failure_is_in_the_trace(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    async with WorkerRig(tmp_path, "watermark", bad_input) as rig:
        events = await run_job(rig, "t-bad", DISPATCH)

    assert events[-1].type == "job.failed" and trace_id_of(events[-1].traceparent) == TRACE_ID
    found = await eventually(
        lambda: (got := {s.name: s for s in in_trace(spans, TRACE_ID)}) and "worker job" in got and got,
        what="the job's span",
    )
    # the stage it failed in and the job are errors, with the code; it never reached the upload
    assert found["download"].status.status_code is StatusCode.UNSET
    for name in ("process", "worker job"):
        assert found[name].status.status_code is StatusCode.ERROR
        assert found[name].status.description == "invalid_media: the clip has no video stream"
    assert found["worker job"].attributes is not None
    assert found["worker job"].attributes["mediacraft.error_code"] == "invalid_media"
    assert "upload" not in found


async def test_a_job_sent_outside_any_trace_makes_no_span(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    async with WorkerRig(tmp_path, "watermark", copy_processor) as rig:
        events = await run_job(rig, "t-untraced", None)

    assert events[-1].type == "job.succeeded"
    assert all(e.traceparent is None for e in events)
    assert not [s for s in spans.get_finished_spans() if s.name in {"worker job", "download", "process", "upload"}]
