"""The generation pool's processor: each job goes to the processor of its task type."""

from __future__ import annotations

from mediacraft.shared.tasks import TaskType
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.worker_generate.processor import GenerateProcessor, build_processor
from mediacraft.worker_generate.scripts.factory import make_script_provider
from mediacraft.worker_generate.scripts.processor import ScriptProcessor
from mediacraft.worker_generate.settings import GenerateSettings


class PoolProcessor:
    """Scripts (`video_script`) to the script processor, images and videos to the media one."""

    def __init__(self, media: GenerateProcessor, scripts: ScriptProcessor) -> None:
        self.media = media
        self.scripts = scripts

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        """Run the job with its task type's processor."""
        if ctx.task_type == TaskType.VIDEO_SCRIPT.value:
            return self.scripts(ctx)
        return self.media(ctx)

    def close(self) -> None:
        """Release both providers' connections."""
        try:
            self.media.close()
        finally:
            self.scripts.close()


def build_pool_processor(settings: GenerateSettings) -> PoolProcessor:
    """Both processors with the providers the settings choose."""
    return PoolProcessor(build_processor(settings), ScriptProcessor(make_script_provider(settings)))
