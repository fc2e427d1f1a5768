"""One trace per task: OpenTelemetry set-up, and the trace context carried from service to service.

A task's trace begins at the HTTP request that creates it (the gateway keeps that request's W3C
`traceparent` on the task, `Task.trace_context`) and follows the task through the bus: every
envelope carries the context it was published in (`Envelope.traceparent`), and a service that
handles a message continues the trace it names (`continued`). So the gateway's requests, the
scheduler's decisions and dispatch, the worker's stages and the completion share one trace id,
which every log line written meanwhile carries (`mediacraft.shared.logging`).

Exporting is chosen by the standard OTEL_* variables and is off unless asked for: spans are made
(trace ids in logs and on tasks need them) but go nowhere without an exporter. See
`configure_tracing`. Only the W3C trace-context propagator is used, whatever OTEL_PROPAGATORS
says: the envelope has a field for `traceparent` and none for anything else.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "SpanKind",
    "Status",
    "StatusCode",
    "TracingConfigError",
    "configure_tracing",
    "continued",
    "current_trace_id",
    "current_traceparent",
    "follow",
    "following",
    "get_tracer",
    "job_failed",
    "job_stages",
    "stage",
    "trace_id_of",
]

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()
_OFF = frozenset({"", "none"})
_OTLP_PACKAGES = {"http/protobuf": "http", "grpc": "grpc"}  # OTLP protocol -> exporter package suffix


class TracingConfigError(ValueError):
    """An OTEL_* variable asks for what this process cannot do: it stops at start, not later."""


def get_tracer(name: str) -> Tracer:
    """A tracer named for the component (the instrumentation scope); it follows the global provider."""
    return trace.get_tracer(name)


# --- set-up --------------------------------------------------------------------------------------


def configure_tracing(service_name: str, *, environ: Mapping[str, str] | None = None) -> Any:
    """Install the process's tracer provider once; returns it (None when OTEL_SDK_DISABLED=true).

    - `OTEL_TRACES_EXPORTER`: a comma list of `otlp`, `console`, `none`. Unset, it is `otlp` when
      `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and `none`
      otherwise (the SDK's own default is `otlp`; here nothing leaves the process unless asked).
    - `otlp` sends OTLP over HTTP/protobuf (the `otlp` extra of mediacraft-shared), to the
      endpoint, headers and timeout of the standard OTEL_EXPORTER_OTLP_* variables;
      `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=grpc` needs opentelemetry-exporter-otlp-proto-grpc.
    - `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the service (default: `service_name`);
      `OTEL_TRACES_SAMPLER` and its argument choose the sampler, as the SDK reads them.

    `environ` (the process environment by default) decides which exporters; the OTLP exporter
    reads its own settings from the process environment.

    A second call in the same process (the single-process product starts every service) keeps the
    provider already installed, and any provider another part of the process installed first.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    exporters = _exporters(env)  # a wrong setting stops the start here, before anything runs
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the OTEL_* variables ask for (empty: export nothing)."""
    raw = environ.get("OTEL_TRACES_EXPORTER")
    if raw is None:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    names = [name.strip().lower() for name in raw.split(",")]
    return [name for name in names if name not in _OFF]


def _exporters(environ: Mapping[str, str]) -> list[Any]:
    found: list[Any] = []
    for name in exporter_names(environ):
        if name == "otlp":
            found.append(_otlp_exporter(environ))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            found.append(ConsoleSpanExporter())
        else:
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console or none)")
    return found


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    asked = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = (asked or "http/protobuf").strip()
    if protocol not in _OTLP_PACKAGES:
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not http/protobuf or grpc")
    package = _OTLP_PACKAGES[protocol]
    try:
        module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{package}.trace_exporter")
    except ImportError as exc:
        raise TracingConfigError(
            f"OTLP span export over {protocol} needs opentelemetry-exporter-otlp-proto-{package}"
            + (" (pip install 'mediacraft-shared[otlp]')" if package == "http" else "")
        ) from exc
    return module.OTLPSpanExporter()  # endpoint, headers, timeout, compression: the OTEL_EXPORTER_OTLP_* variables


# --- trace context -------------------------------------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span; None outside any trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits; None outside any trace."""
    found = trace.get_current_span().get_span_context()
    return format_trace_id(found.trace_id) if found.is_valid else None


def _parent(traceparent: str | None) -> otel_context.Context | None:
    """The context a W3C traceparent names; None when absent or malformed (nothing to continue)."""
    if not traceparent:
        return None
    parent = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    return parent if trace.get_current_span(parent).get_span_context().is_valid else None


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id (32 hex digits) in a W3C traceparent; None when absent or malformed."""
    parent = _parent(traceparent)
    if parent is None:
        return None
    return format_trace_id(trace.get_current_span(parent).get_span_context().trace_id)


@contextmanager
def continued(
    traceparent: str | None,
    name: str,
    *,
    tracer: Tracer,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    record: bool = True,
) -> Iterator[Span | None]:
    """A span `name` in the trace `traceparent` names, current inside the block.

    With `record=False` no span is made: the block only runs in that trace (its log lines carry
    the trace id, what it publishes continues the trace), for frequent messages such as
    heartbeats that would bury a task's trace. Without a (valid) traceparent there is no trace to
    continue: the block runs as it is, and yields None.
    """
    parent = _parent(traceparent)
    if parent is None:
        yield None
        return
    if not record:
        remote = trace.get_current_span(parent)
        with trace.use_span(remote, end_on_exit=False):
            yield None
        return
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=dict(attributes or {})) as span:
        yield span


# --- the stages of a job -------------------------------------------------------------------------


class _Stages:
    """The open stage span of one job; each `enter` ends the previous stage."""

    def __init__(self, tracer: Tracer, parent: otel_context.Context) -> None:
        self.tracer = tracer
        self.parent = parent
        self.span: Span | None = None

    def enter(self, name: str) -> None:
        self.close()
        self.span = self.tracer.start_span(name, context=self.parent, attributes={"mediacraft.stage": name})

    def close(self, error: BaseException | None = None) -> None:
        span, self.span = self.span, None
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


_STAGES: ContextVar[_Stages | None] = ContextVar("mediacraft_trace_stages", default=None)


@contextmanager
def job_stages(tracer: Tracer) -> Iterator[None]:
    """Inside the block, `stage(name)` opens a span per stage, each a child of the span current here
    (outside any trace, none: a job sent without a trace stays without one)."""
    if not trace.get_current_span().get_span_context().is_valid:
        yield
        return
    stages = _Stages(tracer, otel_context.get_current())
    token = _STAGES.set(stages)
    try:
        yield
    except BaseException as exc:
        stages.close(exc)
        raise
    finally:
        stages.close()
        _STAGES.reset(token)


def job_failed(code: str, message: str) -> None:
    """The job ended failed (its error became its outcome, so no exception marks it): mark the stage
    it was in and the current span (the job's) as errors, with the error code."""
    status = Status(StatusCode.ERROR, f"{code}: {message}")
    stages = _STAGES.get()
    if stages is not None and stages.span is not None:
        stages.span.set_status(status)
    current = trace.get_current_span()
    if current.is_recording():
        current.set_status(status)
        current.set_attribute("mediacraft.error_code", code)


def stage(name: str) -> None:
    """The job moves to stage `name` (download, process, upload): end the last stage's span, open one."""
    stages = _STAGES.get()
    if stages is not None:
        stages.enter(name)


# --- requests about an existing task -------------------------------------------------------------


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class _Following:
    """One request's move into a task's trace: quietly (no span) for a read."""

    quiet: bool
    span: Span | None = None
    attached: object | None = None


_FOLLOWING: ContextVar[_Following | None] = ContextVar("mediacraft_trace_following", default=None)


@contextmanager
def following(method: str) -> Iterator[None]:
    """Scope of one HTTP request in which `follow` may move into a task's trace.

    A request that changes the task gets a span there; a read (a status poll, a download) only
    runs in the trace, so that its log lines carry the task's trace id, without a span: a long
    job's trace would fill up with status polls.
    """
    state = _Following(quiet=method.upper() in _READS)
    token = _FOLLOWING.set(state)
    try:
        yield
    finally:
        if state.attached is not None:
            otel_context.detach(state.attached)  # type: ignore[arg-type]
        if state.span is not None:
            state.span.end()
        _FOLLOWING.reset(token)


def follow(traceparent: str | None, name: str, *, tracer: Tracer, attributes: Mapping[str, Any] | None = None) -> None:
    """Continue a task's trace for the rest of this request: a span `name` in that trace, linked
    to the request's own span (a read: no span), current until the request ends. Outside
    `following`, a second time in one request, or for a task without a trace, nothing happens."""
    state = _FOLLOWING.get()
    parent = _parent(traceparent)
    if state is None or state.attached is not None or parent is None:
        return
    if state.quiet:
        state.attached = otel_context.attach(parent)
        return
    request = trace.get_current_span().get_span_context()
    links = [Link(request)] if request.is_valid else None
    state.span = tracer.start_span(name, context=parent, links=links, attributes=dict(attributes or {}))
    state.attached = otel_context.attach(trace.set_span_in_context(state.span))
