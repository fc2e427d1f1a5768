"""The script processor: a project's brief in, `script.json` out (the script also in the result info).

Progress is the provider's, with its plain message ("writing scene 3 of 6"), which the worker
runtime passes on to the task's `message`. The script is small, so the result info carries it
whole (`info["script"]`): the gateway keeps it on the project from there, without a download.
"""

from __future__ import annotations

import json

from mediacraft.shared.scripts import parse_script_params
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.worker_generate.scripts.base import ScriptProvider, ScriptRequest


class ScriptProcessor:
    """Write the script of a `video_script` job with the provider the settings chose."""

    def __init__(self, provider: ScriptProvider) -> None:
        self.provider = provider

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        """Validate the brief, write the script, store it as the job's result file."""
        params = parse_script_params(ctx.config)
        ctx.report(0.0, "preparing")
        request = ScriptRequest(
            params=params,
            task_id=ctx.task_id,
            attempt=ctx.attempt,
            cancel_event=ctx.cancel_event,
            report=ctx.report,
            timeout=ctx.deadline_seconds,
        )
        script = self.provider.write(request)
        ctx.check_cancelled()
        doc = script.model_dump(mode="json")
        path = ctx.workdir / "script.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
        return ProcessorResult(
            path=path,
            content_type="application/json",
            filename="script.json",
            info={"provider": self.provider.name, "project_id": params.project_id, "script": doc},
        )

    def close(self) -> None:
        """Release the provider's connections."""
        self.provider.close()
