"""Settings every worker service shares (prefix MEDIACRAFT_)."""

from __future__ import annotations

from pydantic import Field

from mediacraft.shared.settings import BaseServiceSettings


class WorkerSettings(BaseServiceSettings):
    """Worker knobs: heartbeats, limits, where per-job temp dirs live."""

    worker_id: str | None = None  # default: host name and pid
    work_dir: str | None = None  # default: the system temp dir
    heartbeat_seconds: float = 10.0  # each heartbeat extends the scheduler's lease
    progress_interval_seconds: float = 0.5  # at most ~2 progress events per second
    job_time_limit_seconds: float = 25 * 60  # stays under RabbitMQ's default consumer_timeout
    shutdown_grace_seconds: float = 30.0  # on SIGTERM, time to finish the job before handing it back
    cancel_memory: int = 1000  # how many recent cancel signals to remember
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="the scheduler's lease (same variable): a worker that cannot reach the broker this long "
        "stops its job, which the scheduler has given up on",
    )
    claim_wait_seconds: float = Field(
        default=3.0,
        ge=0,
        description="before starting a redelivered job, how long to wait for a worker that runs it to answer",
    )
    detection_time_limit_seconds: float = Field(
        default=120.0, gt=0, description="wall-clock limit of one watermark detection job (answered as failed past it)"
    )
    scratch_reserve_bytes: int = Field(
        default=1 << 30,
        ge=0,
        description="free scratch space a worker always keeps: it takes a job only while the work dir has room "
        "for the job's estimate plus this (default 1 GiB)",
    )
    scratch_space_factor: float = Field(
        default=3.0,
        gt=0,
        description="a job's scratch estimate as a multiple of its inputs' total size: a job holds its inputs, "
        "intermediates and its output",
    )
    scratch_limit_bytes: int | None = Field(
        default=None,
        gt=0,
        description="a size limit of the work dir that its file system does not show (a Kubernetes emptyDir "
        "sizeLimit): free space counts as at most this minus what the work dir holds",
    )
    scratch_recheck_seconds: float = Field(
        default=5.0,
        gt=0,
        description="while short of scratch space (taking no jobs), how often to look whether it came back",
    )
    metrics_host: str = Field(default="0.0.0.0", description="Interface of the worker metrics endpoint.")
    metrics_port: int = Field(
        default=9103,
        ge=0,
        le=65_535,
        description="Port of the worker Prometheus metrics endpoint (the runtimes of one process share it);"
        " 0 turns it off.",
    )
    status_file: str | None = Field(
        default=None,
        description="where the worker keeps its readiness as JSON (whether it takes jobs, its scratch space) "
        "for the exec probe; unset: none",
    )
