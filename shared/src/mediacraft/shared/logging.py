"""Structured logging: structlog, JSON when not on a terminal, ids bound from context vars, and
the trace id of the current span (`trace_id`, `span_id`) on every line written inside a trace."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars

__all__ = ["bind_contextvars", "bound_contextvars", "clear_contextvars", "configure_logging", "get_logger"]


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, service: str | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library logging once per process (lines go to `stream`,
    standard error by default)."""
    out = sys.stderr if stream is None else stream
    if json is None:
        json = not out.isatty()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if service:
        processors.insert(0, _add_service(service))
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def add_trace_ids(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """`trace_id` and `span_id` of the current span, when there is one (mediacraft.shared.tracing)."""
    found = trace.get_current_span().get_span_context()
    if found.is_valid:
        event.setdefault("trace_id", format_trace_id(found.trace_id))
        event.setdefault("span_id", format_span_id(found.span_id))
    return event


def _add_service(service: str) -> Any:
    def processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; bind task_id, user_id, attempt, request_id via bound_contextvars."""
    return structlog.get_logger(name, **initial)
