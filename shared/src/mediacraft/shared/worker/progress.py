"""Turns stage fractions into overall percent and ETA; pure, so it is tested without a bus.

A job runs in stages: the runtime's `download`, the stages its processor declares (by default one
`process` stage), and the runtime's `upload`. Each stage has a weight; the overall percent is the
weighted sum of the stages' fractions. The defaults keep the long-standing split (download 10 %,
processing 85 %, upload 5 %).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mediacraft.shared.tasks import SubTask, SubTaskStatus


@dataclass(frozen=True)
class Stage:
    """One named stage of a job and its share of the bar (any positive number; shares are relative)."""

    name: str
    weight: float = 1.0


DOWNLOAD = Stage("download", 10.0)
UPLOAD = Stage("upload", 5.0)
PROCESS = Stage("process", 85.0)
DEFAULT_STAGES: tuple[Stage, ...] = (DOWNLOAD, PROCESS, UPLOAD)
RUNTIME_STAGES = frozenset({DOWNLOAD.name, UPLOAD.name})

# A processor declares its stages as a `stages` attribute: a sequence of Stage (their weights are
# shares of the processing part, 85 %), or a callable from the job's task type to one, for a pool
# whose processor serves several task types. None or empty: one `process` stage.
StageDeclaration = Sequence[Stage] | Callable[[str | None], Sequence[Stage]]


def job_stages(processor: Any, task_type: str | None = None) -> tuple[Stage, ...]:
    """Every stage of a job run by `processor`: download, the processor's own, upload."""
    declared = getattr(processor, "stages", None)
    if callable(declared):
        declared = declared(task_type)
    own = tuple(declared or ())
    if not own:
        return DEFAULT_STAGES
    names = [s.name for s in own]
    if len(set(names)) != len(names) or RUNTIME_STAGES & set(names) or any(s.weight <= 0 for s in own):
        raise ValueError(f"invalid stage declaration {names}: names unique, positive weights, no download/upload")
    total = sum(s.weight for s in own)
    scaled = tuple(Stage(s.name, PROCESS.weight * s.weight / total) for s in own)
    return (DOWNLOAD, *scaled, UPLOAD)


@dataclass
class ProgressState:
    """The latest progress of one job, with what is needed to estimate time remaining."""

    stages: tuple[Stage, ...] = DEFAULT_STAGES
    stage: str = "download"
    stage_fraction: float = 0.0
    stage_started: float = 0.0
    fractions: dict[str, float] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    entered: list[str] = field(default_factory=list)
    message: str | None = None  # the processor's latest plain words ("writing scene 3 of 6")

    def enter(self, stage: str, now: float) -> None:
        """Start a stage (declared or not); the stages declared before it count as done."""
        for item in self.stages:
            if item.name == stage:
                break
            self.fractions[item.name] = 1.0
        for name in self.entered:
            self.fractions[name] = 1.0  # stages run in order: leaving one means it is done
        self.stage, self.stage_fraction, self.stage_started = stage, 0.0, now
        self.fractions[stage] = 0.0
        if stage not in self.entered:
            self.entered.append(stage)

    def say(self, message: str) -> bool:
        """Record the processor's latest message (cut to 300 characters); True when it changed."""
        message = message.strip()[:300]
        if not message or message == self.message:
            return False
        self.message = message
        return True

    def update(self, fraction: float, detail: str | None = None) -> None:
        """Record the stage's fraction done (never moves backwards) and what it is doing."""
        fraction = min(1.0, max(0.0, fraction))
        if detail:
            self.messages[self.stage] = detail[:200]
        if fraction > self.stage_fraction:
            self.stage_fraction = fraction
            self.fractions[self.stage] = fraction

    def finish(self) -> None:
        """Every stage done (the result is uploaded)."""
        for item in self.stages:
            self.fractions[item.name] = 1.0
        self.stage_fraction = 1.0

    @property
    def percent(self) -> float:
        total = sum(s.weight for s in self.stages) or 1.0
        if self.stage not in {s.name for s in self.stages}:
            return round(100 * self.stage_fraction, 1)
        done = sum(s.weight * self.fractions.get(s.name, 0.0) for s in self.stages)
        return round(100 * done / total, 1)

    @property
    def subtasks(self) -> list[SubTask]:
        """The declared stages in order, each with its status, percent and latest detail."""
        items: list[SubTask] = []
        for item in self.stages:
            fraction = self.fractions.get(item.name)
            if fraction is None:
                status = SubTaskStatus.PENDING
            elif fraction >= 1.0:
                status = SubTaskStatus.COMPLETED
            else:
                status = SubTaskStatus.RUNNING
            items.append(
                SubTask(
                    name=item.name,
                    status=status,
                    progress=round(100 * (fraction or 0.0), 1),
                    message=self.messages.get(item.name),
                )
            )
        return items

    def eta_seconds(self, now: float) -> float | None:
        """Time left in the current stage from its rate so far (None until there is a rate)."""
        elapsed = now - self.stage_started
        if self.stage_fraction <= 0.02 or elapsed <= 0:
            return None
        return round(elapsed * (1 - self.stage_fraction) / self.stage_fraction, 1)
