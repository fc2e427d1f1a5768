"""The generation processor: validated parameters in, one checked result file out.

`GenerateProcessor(provider)` follows the worker contract (synchronous, run in a thread by the
runtime). It parses the task's config (`params.parse_params`: bad settings fail at once with a
stable code), asks the provider for the media (0-90 % of the processing stage), then checks every
file the provider wrote as untrusted media (`probe_media`: real container from its bytes, limits,
dimensions) before it becomes the result (90-100 %). One file is the result as it is
(`image.png`, `video.mp4`, ...); several images are packed, uncompressed, into `images.zip`.

A file that fails the check is the backend's fault, not the person's: it is a retryable
`generation_bad_output`. Everything is written in one scratch folder inside the job directory,
removed on any failure, so a failed or cancelled job leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.generation import GenerationParams, ImageParams, VideoParams, parse_params
from mediacraft.shared.logging import get_logger
from mediacraft.shared.media import MediaLimits, ProbeResult, probe_media
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.worker_generate.providers.base import GeneratedFile, GenerationProvider, GenerationRequest
from mediacraft.worker_generate.providers.factory import make_provider
from mediacraft.worker_generate.settings import GenerateSettings

log = get_logger(__name__)

_GENERATE_SHARE = 0.9
# container (as sniffed from the bytes) -> file extension and content type of the result
_OUTPUT_TYPES: dict[str, tuple[str, str]] = {
    "png": (".png", "image/png"),
    "jpeg": (".jpg", "image/jpeg"),
    "webp": (".webp", "image/webp"),
    "mp4": (".mp4", "video/mp4"),
    "matroska": (".webm", "video/webm"),
}


class BadGeneratedOutput(RetryableError):
    """The provider wrote something that is not the media asked for."""

    code = "generation_bad_output"


class GenerateProcessor:
    """Validate, generate, check and package; see the module docstring."""

    def __init__(self, provider: GenerationProvider, *, limits: MediaLimits | None = None) -> None:
        self.provider = provider
        self.limits = limits or MediaLimits()

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        """Generate what `ctx.config` asks for into `ctx.workdir`."""
        params = parse_params(ctx.task_type, ctx.config)
        scratch = Path(tempfile.mkdtemp(prefix="generate-", dir=ctx.workdir))
        try:
            return self._generate(ctx, params, scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def close(self) -> None:
        """Release the provider's connections."""
        self.provider.close()

    def _generate(self, ctx: JobContext, params: GenerationParams, scratch: Path) -> ProcessorResult:
        report = _MonotonicReport(ctx)
        seed = params.effective_seed(ctx.task_id)
        request = GenerationRequest(
            params=params,
            seed=seed,
            outdir=scratch / "out",
            task_id=ctx.task_id,
            attempt=ctx.attempt,
            cancel_event=ctx.cancel_event,
            report=lambda f, d: report(_GENERATE_SHARE * f, d),
            timeout=ctx.deadline_seconds,
        )
        generation = self.provider.generate(request)
        ctx.check_cancelled()
        probes = self._check(request, generation.files)
        report(1.0, "checked")
        info: dict[str, Any] = {**generation.info, **_describe(params, seed), "provider": self.provider.name}
        log.info("generated", provider=self.provider.name, kind=params.kind, seed=seed, files=len(probes))
        if len(probes) == 1:
            probe = probes[0]
            ext, content_type = _OUTPUT_TYPES[probe.container.name]
            path = probe.path.rename(scratch / f"{params.kind}{ext}")
            return ProcessorResult(
                path=path, content_type=content_type, filename=path.name, media=probe.media, info=info
            )
        info["images"] = [{"width": p.media.width, "height": p.media.height, "size": p.size} for p in probes]
        return ProcessorResult(
            path=_zip(probes, scratch / "images.zip"),
            content_type="application/zip",
            filename="images.zip",
            media=None,
            info=info,
        )

    def _check(self, request: GenerationRequest, files: list[GeneratedFile]) -> list[ProbeResult]:
        """Probe each file as untrusted media of the requested kind; wrong count or media is retryable."""
        if len(files) != request.expected_files:
            raise BadGeneratedOutput(
                f"The {self.provider.name} provider produced {len(files)} files; "
                f"{request.expected_files} were asked for"
            )
        probes = []
        for item in files:
            request.check_cancelled()
            try:
                probes.append(probe_media(item.path, self.limits, expect=request.kind))  # type: ignore[arg-type]
            except InvalidInput as exc:
                raise BadGeneratedOutput(
                    f"The {self.provider.name} provider returned an unusable {request.kind}: {exc.message}"
                ) from exc
            if probes[-1].container.name not in _OUTPUT_TYPES:
                raise BadGeneratedOutput(f"The {self.provider.name} provider returned an unsupported {request.kind}")
        return probes


def _describe(params: GenerationParams, seed: int) -> dict[str, Any]:
    """What the result was made from, for the task's result info (the prompt is in the config)."""
    info: dict[str, Any] = {"kind": params.kind, "seed": seed, "width": params.width, "height": params.height}
    if params.style is not None:
        info["style"] = params.style
    if isinstance(params, ImageParams):
        info["count"] = params.count
    if isinstance(params, VideoParams):
        info["duration_seconds"] = params.duration_seconds
        info["fps"] = params.fps
    return info


def _zip(probes: list[ProbeResult], target: Path) -> Path:
    # images are compressed already: storing them keeps the packing fast and the size the same
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for number, probe in enumerate(probes, start=1):
            ext, _ = _OUTPUT_TYPES[probe.container.name]
            archive.write(probe.path, arcname=f"image-{number}{ext}")
    return target


class _MonotonicReport:
    """Pass progress to the runtime, never backwards."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._best = 0.0

    def __call__(self, fraction: float, detail: str = "") -> None:
        self._best = max(self._best, min(1.0, fraction))
        self._ctx.report(self._best, detail)


def build_processor(settings: GenerateSettings) -> GenerateProcessor:
    """The processor with the provider the settings choose."""
    return GenerateProcessor(make_provider(settings))
