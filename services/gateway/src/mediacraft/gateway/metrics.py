"""Prometheus metrics of one gateway app, in its own registry (several apps may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """Counters and gauges an operator watches; names are prefixed mediacraft_gateway_."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        p = "mediacraft_gateway_"
        self.requests = Counter(p + "requests_total", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            p + "request_seconds", "HTTP request latency", ["route"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.tasks_created = Counter(p + "tasks_created_total", "Tasks created", ["task_type"], registry=r)
        self.tasks_submitted = Counter(p + "tasks_submitted_total", "Tasks submitted", ["task_type"], registry=r)
        self.duplicates = Counter(p + "duplicates_total", "Submissions answered with an existing task", registry=r)
        self.idempotent_replays = Counter(p + "idempotent_replays_total", "Repeated Idempotency-Keys", registry=r)
        self.upload_bytes = Counter(p + "upload_bytes_total", "Bytes of accepted uploads", registry=r)
        self.uploads = Counter(p + "uploads_total", "Upload outcomes", ["outcome"], registry=r)
        self.uploads_in_progress = Gauge(p + "uploads_in_progress", "Uploads being received", registry=r)
        self.identities_minted = Counter(p + "identities_minted_total", "New anonymous identities", registry=r)
        self.refused = Counter(p + "refused_total", "Requests refused before routing", ["reason"], registry=r)
        self.sse_clients = Gauge(p + "sse_clients", "Connected live-event clients", registry=r)
        self.sse_closed = Counter(p + "sse_closed_total", "Live streams the gateway closed", ["reason"], registry=r)
        self.sse_events = Counter(p + "sse_events_total", "Events sent to live clients", registry=r)
        self.previews = Counter(p + "previews_total", "Frame previews", ["outcome"], registry=r)
        self.publish_failures = Counter(p + "publish_failures_total", "Bus publishes that failed", registry=r)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
