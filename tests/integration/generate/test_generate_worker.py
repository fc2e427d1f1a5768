"""Generate jobs through the real worker runtime, on the in-process bus and a local object store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from mediacraft.shared.error_texts import text
from mediacraft.shared.messages import Envelope, JobFailed, JobSucceeded, Message, RunJob
from mediacraft.shared.tasks import TaskType
from mediacraft.shared.topology import JOBS
from mediacraft.worker_generate.processor import GenerateProcessor
from mediacraft.worker_generate.providers.base import GenerationProvider
from mediacraft.worker_generate.providers.http import HttpProvider
from mediacraft.worker_generate.providers.local import LocalProvider
from tests.fixtures.worker_rig import WorkerRig
from tests.integration.generate.backend import Reply, in_order, json_error, png_bytes
from tests.integration.generate.conftest import BackendFactory


class Rig(WorkerRig):
    """One generate worker runtime and a listener on its job events."""

    def __init__(self, tmp: Path, provider: GenerationProvider) -> None:
        super().__init__(tmp, "generate", GenerateProcessor(provider))
        self.provider = provider

    async def __aexit__(self, *exc: object) -> None:
        await super().__aexit__(*exc)
        self.provider.close()

    async def submit(self, task_type: TaskType, config: dict[str, Any], task_id: str = "t1") -> RunJob:
        job = RunJob(
            task_id=task_id,
            user_id="u1",
            attempt=1,
            task_type=task_type,
            inputs=[],
            config=config,
            output_key=f"results/{task_id}/1/",
        )
        await self.bus.publish(JOBS, "generate", Envelope.wrap(job, correlation_id=task_id))
        return job

    async def outcome(self, timeout: float = 20) -> tuple[Message, list[Message]]:
        """Events until the job's succeeded or failed event."""
        return await self.until(JobSucceeded.TYPE, JobFailed.TYPE, timeout=timeout)


async def test_a_local_image_job_succeeds_with_the_result_in_the_store(tmp_path: Path) -> None:
    async with Rig(tmp_path, LocalProvider()) as rig:
        await rig.submit(TaskType.IMAGE_GENERATION, {"prompt": "a red kite", "width": 320, "height": 256})
        done, seen = await rig.outcome()
        assert isinstance(done, JobSucceeded), done
        assert done.result.key == "results/t1/1/image.png"
        assert done.result.info["provider"] == "local"
        fetched = tmp_path / "fetched.png"
        await rig.objects.get_file(done.result.key, fetched)
        image = cv2.imread(str(fetched))
        assert image is not None and image.shape == (256, 320, 3)
        assert seen[0].TYPE == "job.started"
        assert rig.leftovers() == []


async def test_a_local_video_job_succeeds_with_its_media_info(tmp_path: Path) -> None:
    async with Rig(tmp_path, LocalProvider()) as rig:
        await rig.submit(
            TaskType.VIDEO_GENERATION,
            {"prompt": "clouds", "width": 256, "height": 144, "duration_seconds": 1, "fps": 10},
        )
        done, _ = await rig.outcome()
        assert isinstance(done, JobSucceeded), done
        assert done.result.key == "results/t1/1/video.mp4" and done.result.content_type == "video/mp4"
        media = done.result.media
        assert media is not None and (media.width, media.height, media.frame_count) == (256, 144, 10)
        assert (await rig.objects.stat(done.result.key)).size == done.result.size


async def test_an_http_job_stores_what_the_backend_made(tmp_path: Path, backend_factory: BackendFactory) -> None:
    picture = png_bytes(96, 64)
    backend = backend_factory(in_order(Reply(body=picture)))
    async with Rig(tmp_path, HttpProvider(backend.url, timeout=5)) as rig:
        await rig.submit(TaskType.IMAGE_GENERATION, {"prompt": "from the backend", "width": 96, "height": 64})
        done, _ = await rig.outcome()
        assert isinstance(done, JobSucceeded), done
        assert done.result.info["provider"] == "http" and done.result.size == len(picture)
        fetched = tmp_path / "fetched.png"
        await rig.objects.get_file(done.result.key, fetched)
        assert fetched.read_bytes() == picture


async def test_a_backend_that_is_down_fails_the_job_as_retryable(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    backend = backend_factory(in_order(Reply(body=png_bytes())), listening=False)
    async with Rig(tmp_path, HttpProvider(backend.url, timeout=5)) as rig:
        await rig.submit(TaskType.IMAGE_GENERATION, {"prompt": "anything"})
        failed, _ = await rig.outcome()
        assert isinstance(failed, JobFailed)
        assert (failed.code, failed.retryable) == ("generation_backend_unavailable", True)
        assert failed.message == text("generation_backend_unavailable")  # the detail goes to the log
        assert rig.leftovers() == []
        assert [o async for o in rig.objects.list("results/")] == []


async def test_a_backend_that_refuses_the_prompt_fails_the_job_for_good(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    backend = backend_factory(in_order(json_error(400, "The prompt asks for a trademarked character")))
    async with Rig(tmp_path, HttpProvider(backend.url, timeout=5)) as rig:
        await rig.submit(TaskType.IMAGE_GENERATION, {"prompt": "a famous mouse"})
        failed, _ = await rig.outcome()
        assert isinstance(failed, JobFailed)
        assert (failed.code, failed.retryable) == ("generation_rejected", False)
        assert failed.message == (
            "The generation service refused the request: The prompt asks for a trademarked character"
        )


async def test_a_backend_that_sends_a_broken_picture_fails_the_job_as_retryable(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    broken = png_bytes()[:40]
    backend = backend_factory(in_order(Reply(body=broken)))
    async with Rig(tmp_path, HttpProvider(backend.url, timeout=5)) as rig:
        await rig.submit(TaskType.IMAGE_GENERATION, {"prompt": "anything"})
        failed, _ = await rig.outcome()
        assert isinstance(failed, JobFailed)
        assert (failed.code, failed.retryable) == ("generation_bad_output", True)
        assert failed.message == text("generation_bad_output")  # the detail goes to the log
        assert rig.leftovers() == []


async def test_bad_settings_fail_at_once_without_calling_the_backend(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    backend = backend_factory(in_order(Reply(body=png_bytes())))
    async with Rig(tmp_path, HttpProvider(backend.url, timeout=5)) as rig:
        await rig.submit(TaskType.VIDEO_GENERATION, {"prompt": "ok", "width": 641, "height": 360})
        failed, _ = await rig.outcome()
        assert isinstance(failed, JobFailed)
        assert (failed.code, failed.retryable) == ("invalid_size", False)
        assert "odd" in failed.message
        assert backend.received == []
