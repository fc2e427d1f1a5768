"""One trace per task: a task's HTTP requests (gateway), the scheduler's handling and dispatch, and
the worker's job and stages share one trace id, which the task's status shows and every log line
about the task carries.

The product runs in this process (Standalone in a thread, as the CLI and browser tests run it), so
an in-memory span exporter on the process's tracer provider sees every service's spans. Each
service names its spans' instrumentation scope (`mediacraft.gateway`, `mediacraft.scheduler`,
`mediacraft.worker`), which tells them apart within the one process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.e2e.flows.client import Visitor
from tests.fixtures.served_product import ServedProduct
from tests.fixtures.tracing import LogLines, in_trace
from tests.fixtures.waiting import poll

WAIT = 60.0
SERVICES = ("gateway", "scheduler", "worker")
TRACE_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def served(tmp_path: Path, spans: InMemorySpanExporter, log_lines: LogLines) -> Iterator[ServedProduct]:
    product = ServedProduct(tmp_path / "product", name="trace-standalone")
    product.start()
    yield product
    product.stop()


@pytest.fixture
def visitor(served: ServedProduct) -> Iterator[Visitor]:
    person = Visitor(served.url, "tracer")
    yield person
    person.close()


def scope(span: ReadableSpan) -> str:
    return span.instrumentation_scope.name if span.instrumentation_scope else ""


def named(found: list[ReadableSpan], name: str) -> ReadableSpan:
    matching = [span for span in found if span.name == name]
    assert len(matching) == 1, f"expected one {name!r} span, got {[s.name for s in found]}"
    return matching[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_a_tasks_spans_from_gateway_scheduler_and_worker_share_one_trace(
    visitor: Visitor, spans: InMemorySpanExporter, log_lines: LogLines
) -> None:
    task_id = visitor.create("image_generation")["task_id"]
    visitor.submit(task_id, {"prompt": "a lighthouse at dusk", "width": 96, "height": 64})
    status = poll(
        lambda: (s := visitor.status(task_id))["status"] in {"completed", "failed"} and s,
        timeout=WAIT,
        what="the task to finish",
    )
    assert status["status"] == "completed", status

    # the status answer names the trace, for an operator to look the task up by
    trace_id = status["trace_id"]
    assert TRACE_ID.fullmatch(trace_id) and trace_id != "0" * 32
    assert "trace_context" not in status

    wanted = {"POST /api/tasks/create", "gateway task request", "scheduler dispatch", "worker job", "upload"}
    found = poll(
        lambda: (got := in_trace(spans, trace_id)) and wanted <= {s.name for s in got} and got,
        timeout=WAIT,
        what="the task's spans",
    )
    by_scope = {name: [s for s in found if scope(s) == f"mediacraft.{name}"] for name in SERVICES}
    assert all(by_scope.values()), {name: [s.name for s in got] for name, got in by_scope.items()}

    # the gateway: the create request begins the trace; the submit request continues it
    create = named(by_scope["gateway"], "POST /api/tasks/create")
    assert create.parent is None and create.attributes is not None
    assert create.attributes["http.route"] == "/api/tasks/create"
    assert create.attributes["http.response.status_code"] == 201
    submit = named(by_scope["gateway"], "gateway task request")  # one: the status polls made none
    assert parent_of(submit) == create.context.span_id
    # ... and links the submit request's own span, which is not in the task's trace
    assert len(submit.links) == 1 and submit.links[0].context.trace_id != create.context.trace_id

    # the scheduler: the submit command handled under the submit request, then the dispatch
    handled = named(by_scope["scheduler"], "scheduler task.submit")
    assert parent_of(handled) == submit.context.span_id
    dispatch = named(by_scope["scheduler"], "scheduler dispatch")
    assert dispatch.attributes is not None and dispatch.attributes["mediacraft.task_id"] == task_id
    completion = named(by_scope["scheduler"], "scheduler job.succeeded")

    # the worker: its job under the dispatch, a span per stage inside it; the completion under the job
    job = named(by_scope["worker"], "worker job")
    assert parent_of(job) == dispatch.context.span_id
    stages = sorted((s for s in by_scope["worker"] if s.name in {"download", "process", "upload"}), key=start)
    assert [s.name for s in stages] == ["download", "process", "upload"]
    assert all(parent_of(s) == job.context.span_id for s in stages)
    assert parent_of(completion) == job.context.span_id

    # every log line about the task carries its trace id, and each service wrote some
    about = log_lines.about(task_id)
    assert about and all(line.get("trace_id") == trace_id for line in about), [
        (line["event"], line.get("trace_id")) for line in about if line.get("trace_id") != trace_id
    ]
    events = {line["event"] for line in about}
    assert {"task_created", "task_submitted"} <= events  # gateway
    assert "scheduler.dispatched" in events  # scheduler
    assert "job finished" in events  # worker


def start(span: ReadableSpan) -> int:
    return span.start_time or 0
