"""Prometheus metrics of the identity service, read from its counters at scrape time, in a registry
of its own (served on the metrics port, never on the API port)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from mediacraft.identity.service import IdentityService


class IdentityCollector(Collector):
    """Identities minted and last-seen writes, as counters."""

    def __init__(self, service: IdentityService) -> None:
        self.service = service

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "mediacraft_identity_users_minted", "Anonymous identities minted", value=self.service.minted
        )
        yield CounterMetricFamily(
            "mediacraft_identity_seen_writes", "Last-seen writes to the store", value=self.service.seen_writes
        )


def identity_registry(service: IdentityService) -> CollectorRegistry:
    """A registry holding the identity service's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IdentityCollector(service))
    return registry
