"""Prometheus metrics of the cleanup service, in its own registry.

Per-user bytes go to the user records (usage.py) for every user; as a metric only the top users
get a label of their own, so that the number of series stays bounded however many users there are.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mediacraft.cleanup.report import PassReport

_PASS_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


class CleanupMetrics:
    """Pass outcomes, what was removed, and storage usage (names prefixed mediacraft_)."""

    def __init__(self, *, top_users: int = 20) -> None:
        r = self.registry = CollectorRegistry()
        self.top_users = top_users
        self.passes = Counter("mediacraft_cleanup_passes_total", "Cleanup passes by outcome", ["outcome"], registry=r)
        self.pass_seconds = Histogram(
            "mediacraft_cleanup_pass_seconds", "Duration of cleanup passes", buckets=_PASS_BUCKETS, registry=r
        )
        self.last_pass = Gauge(
            "mediacraft_cleanup_last_pass_timestamp_seconds",
            "When the last completed pass finished (Unix time)",
            registry=r,
        )
        self.backups = Counter(
            "mediacraft_cleanup_backups_total", "Store snapshots taken, by outcome (written, failed)", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.last_backup = Gauge(
            "mediacraft_cleanup_last_backup_timestamp_seconds",
            "When the newest store snapshot was written (Unix time; SQLite stores)",
            registry=r,
        )
        self.removed = Counter(
            "mediacraft_cleanup_removed_total",
            "Removals (mode=delete) or dry-run findings (mode=dry_run)",
            ["kind", "reason", "mode"],
            registry=r,
        )
        self.removed_bytes = Counter(
            "mediacraft_cleanup_removed_bytes_total", "Bytes of removed objects", ["kind", "mode"], registry=r
        )
        self.storage_bytes = Gauge("mediacraft_storage_bytes", "Bytes stored, by area", ["area"], registry=r)
        self.storage_objects = Gauge("mediacraft_storage_objects", "Objects stored, by area", ["area"], registry=r)
        self.storage_total = Gauge("mediacraft_storage_total_bytes", "Bytes stored in uploads and results", registry=r)
        self.storage_users = Gauge("mediacraft_storage_users", "Users storing at least one object", registry=r)
        self.unattributed = Gauge(
            "mediacraft_storage_unattributed_bytes",
            "Bytes under uploads/ and results/ that no known task accounts for",
            registry=r,
        )
        self.user_bytes = Gauge(
            "mediacraft_storage_user_bytes", "Bytes stored by each of the top users", ["user_id"], registry=r
        )
        self.over_quota = Gauge("mediacraft_storage_users_over_quota", "Users storing more than the quota", registry=r)

    def observe(self, report: PassReport, *, quota_bytes: int | None) -> None:
        """Record one pass."""
        self.passes.labels(report.outcome.value).inc()
        if not report.ran:
            return
        if report.finished_at is not None:
            self.pass_seconds.observe((report.finished_at - report.started_at).total_seconds())
            self.last_pass.set(report.finished_at.timestamp())
        mode = "dry_run" if report.dry_run else "delete"
        for removal in report.removals:
            self.removed.labels(removal.kind.value, removal.reason.value, mode).inc()
            self.removed_bytes.labels(removal.kind.value, mode).inc(removal.bytes)
        if report.usage is not None:
            self._set_usage(report, quota_bytes)

    def _set_usage(self, report: PassReport, quota_bytes: int | None) -> None:
        usage = report.usage
        assert usage is not None
        for area, tally in usage.areas.items():
            self.storage_bytes.labels(area).set(tally.bytes)
            self.storage_objects.labels(area).set(tally.objects)
        self.storage_total.set(usage.total_bytes)
        self.storage_users.set(sum(1 for tally in usage.users.values() if tally.objects))
        self.unattributed.set(usage.unattributed.bytes)
        self.user_bytes.clear()  # a user who dropped out of the top must not keep an old figure
        for user_id, tally in usage.top(self.top_users):
            self.user_bytes.labels(user_id).set(tally.bytes)
        over = 0 if quota_bytes is None else sum(1 for tally in usage.users.values() if tally.bytes > quota_bytes)
        self.over_quota.set(over)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
