"""The trace context helpers: which exporter the OTEL_* variables ask for, a trace continued from an
envelope, the stages of a job, a request that joins its task's trace, trace ids in log lines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, format_trace_id

from mediacraft.shared.messages import ProbeMessage
from mediacraft.shared.messages.envelope import Envelope
from mediacraft.shared.tasks import Task, TaskType
from mediacraft.shared.tracing import (
    TracingConfigError,
    _exporters,
    configure_tracing,
    continued,
    current_trace_id,
    current_traceparent,
    exporter_names,
    follow,
    following,
    get_tracer,
    job_stages,
    stage,
    trace_id_of,
)
from tests.fixtures.tracing import LogLines, in_trace

TRACER = get_tracer("tests.tracing")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


# --- which exporter -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, []),  # nothing set: nothing leaves the process
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ["console", "otlp"]),
    ],
)
def test_the_otel_variables_choose_the_exporters(environ: dict[str, str], names: list[str]) -> None:
    assert exporter_names(environ) == names


def test_the_otlp_exporter_sends_over_http_to_the_configured_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # the exporter reads its own settings (endpoint, headers) from the process environment
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    [exporter] = _exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    try:
        assert isinstance(exporter, OTLPSpanExporter)
        assert exporter._endpoint == "http://127.0.0.1:4318/v1/traces"  # built only: nothing is sent
    finally:
        exporter.shutdown()
    [console] = _exporters({"OTEL_TRACES_EXPORTER": "console"})
    assert isinstance(console, ConsoleSpanExporter)


def test_the_provider_is_installed_once_per_process(spans: InMemorySpanExporter) -> None:
    installed = trace.get_tracer_provider()
    # the single-process product starts every service: each asks, and all share the first one
    assert configure_tracing("gateway", environ={"OTEL_TRACES_EXPORTER": "console"}) is installed
    assert configure_tracing("scheduler", environ={}) is installed
    assert configure_tracing("worker", environ={"OTEL_SDK_DISABLED": "true"}) is None  # off: none asked for


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "unknown exporter 'zipkin'"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "'http/json'"),
    ],
)
def test_an_exporter_this_process_cannot_run_stops_the_start(environ: dict[str, str], complaint: str) -> None:
    with pytest.raises(TracingConfigError, match=complaint):
        _exporters(environ)


# --- trace context ------------------------------------------------------------------------------


def test_a_traceparent_names_its_trace_and_a_malformed_one_none() -> None:
    assert trace_id_of(TRACEPARENT) == TRACE_ID
    for bad in (None, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"):
        assert trace_id_of(bad) is None


def test_a_task_shows_the_trace_it_was_created_in() -> None:
    task = Task(task_id="t-1", user_id="u-1", task_type=TaskType.VIDEO_MERGE, created_at=datetime.now(UTC))
    assert task.trace_id is None  # created before traces, or outside one
    traced = task.model_copy(update={"trace_context": TRACEPARENT})
    assert traced.trace_id == TRACE_ID
    assert Task.model_validate(traced.to_doc()).trace_context == TRACEPARENT  # kept by the stores as a field


def test_an_envelope_carries_the_context_it_is_wrapped_in(spans: InMemorySpanExporter) -> None:
    assert Envelope.wrap(ProbeMessage(n=1)).traceparent is None  # outside any trace
    with TRACER.start_as_current_span("publishing"):
        inside = Envelope.wrap(ProbeMessage(n=2))
        mine = current_traceparent()
        chosen = Envelope.wrap(ProbeMessage(n=3), traceparent=TRACEPARENT)  # another task's trace, named
    assert inside.traceparent == mine and mine is not None
    assert chosen.traceparent == TRACEPARENT
    assert Envelope.from_bytes(inside.to_bytes()) == inside


def test_a_handler_continues_the_trace_its_envelope_names(spans: InMemorySpanExporter) -> None:
    with continued(TRACEPARENT, "handle", tracer=TRACER) as span:
        assert span is not None and current_trace_id() == TRACE_ID
        reply = Envelope.wrap(ProbeMessage(n=1))
    [handled] = in_trace(spans, TRACE_ID)
    assert handled.parent is not None and handled.parent.span_id == 0x00F067AA0BA902B7
    assert trace_id_of(reply.traceparent) == TRACE_ID  # what it publishes stays in the trace

    with continued(TRACEPARENT, "heartbeat", tracer=TRACER, record=False) as quiet:
        assert quiet is None and current_trace_id() == TRACE_ID  # in the trace, without a span
    for absent in (None, "garbage"):
        with continued(absent, "untraced", tracer=TRACER) as none:
            assert none is None and current_trace_id() is None
    assert [s.name for s in in_trace(spans, TRACE_ID)] == ["handle"]


def test_a_jobs_stages_are_spans_under_the_job_and_a_failure_marks_the_last(spans: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), continued(TRACEPARENT, "job", tracer=TRACER), job_stages(TRACER):
        stage("download")
        stage("process")
        raise RuntimeError("ffmpeg exited with 1")
    stage("upload")  # outside a job: nothing
    found = {s.name: s for s in in_trace(spans, TRACE_ID)}
    assert set(found) == {"job", "download", "process"}
    job = found["job"].context
    assert job is not None
    assert all(found[name].parent.span_id == job.span_id for name in ("download", "process"))  # type: ignore[union-attr]
    assert found["download"].status.status_code is StatusCode.UNSET
    assert found["process"].status.status_code is StatusCode.ERROR


async def test_a_request_about_a_task_joins_its_trace_until_it_ends(spans: InMemorySpanExporter) -> None:
    with TRACER.start_as_current_span("POST /api/tasks/{task_id}/config") as request:
        with following("POST"):
            follow(TRACEPARENT, "gateway task request", tracer=TRACER)
            follow(TRACEPARENT, "a second time", tracer=TRACER)  # one per request
            await asyncio.sleep(0)  # a suspension point: the task's trace must survive it
            assert current_trace_id() == TRACE_ID
        assert current_trace_id() == format_trace_id(request.get_span_context().trace_id)
        with following("GET"):  # a read (status polls) runs in the task's trace, with no span there
            follow(TRACEPARENT, "read", tracer=TRACER)
            assert current_trace_id() == TRACE_ID
        assert current_trace_id() == format_trace_id(request.get_span_context().trace_id)
    follow(TRACEPARENT, "outside a request", tracer=TRACER)
    assert current_trace_id() is None
    [joined] = in_trace(spans, TRACE_ID)
    assert joined.name == "gateway task request"
    assert [link.context.span_id for link in joined.links] == [request.get_span_context().span_id]


def test_log_lines_carry_the_trace_id_inside_a_trace_only(log_lines: LogLines) -> None:
    from mediacraft.shared.logging import get_logger

    log = get_logger("tests.tracing")
    log.info("outside")
    with continued(TRACEPARENT, "inside", tracer=TRACER):
        log.info("inside", task_id="t-1")
    lines = {line["event"]: line for line in log_lines.all()}
    assert "trace_id" not in lines["outside"]
    assert lines["inside"]["trace_id"] == TRACE_ID and len(lines["inside"]["span_id"]) == 16
