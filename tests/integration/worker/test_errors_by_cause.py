"""A fault of the machine is a retryable error named by its cause, at every stage of a job, and
the person reads the error table's sentence for it: never a path, host or tool's own text."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.error_texts import sentence
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from tests.fixtures.full_disk import FaultyStore, write_to_full_disk
from tests.integration.worker.test_runtime import Harness, copy_processor

SECRET_PATH = "/srv/mediacraft/scratch/internal-bucket/results/t1"


def raising(exc: BaseException) -> Callable[[], None]:
    """A fault the kernel or the allocator reports (an I/O error, too many files, no memory)."""

    def fault() -> None:
        raise exc

    return fault


def oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code), SECRET_PATH)


FAULTS: dict[str, tuple[Callable[[], None], str]] = {
    "disk full": (write_to_full_disk, "disk_full"),
    "I/O error": (raising(oserror(errno.EIO)), "io_error"),
    "out of memory": (raising(MemoryError()), "out_of_memory"),
    "too many open files": (raising(oserror(errno.EMFILE)), "too_many_open_files"),
}


def processor_with(stage: str, fault: Any) -> Any:
    def process(ctx: JobContext) -> ProcessorResult:
        if stage == "process":
            fault()
        return copy_processor(ctx)

    return process


@pytest.mark.parametrize("stage", ["download", "process", "upload"])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_fault_of_the_machine_is_retryable_and_named_by_its_cause(
    tmp_path: Path, stage: str, fault: str
) -> None:
    inject, code = FAULTS[fault]
    async with Harness(tmp_path, processor_with(stage, inject)) as h:
        h.runtime.objects = FaultyStore(h.runtime.objects, stage, inject)
        await h.submit()
        failed, _ = await h.until("job.failed")
        assert (failed.code, failed.retryable) == (code, True)
        assert failed.message == sentence(code)
        assert "/srv" not in failed.message and "bucket" not in failed.message
        assert h.leftovers() == []


async def test_a_bug_reads_as_a_plain_sentence_without_its_own_text(tmp_path: Path) -> None:
    def buggy(ctx: JobContext) -> ProcessorResult:
        raise KeyError(SECRET_PATH)

    async with Harness(tmp_path, buggy) as h:
        await h.submit()
        failed, _ = await h.until("job.failed")
        assert (failed.code, failed.retryable) == ("worker_error", True)
        assert failed.message == sentence("worker_error")
