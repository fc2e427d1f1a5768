"""Turns stage fractions into overall percent and ETA; pure, so it is tested without a bus."""

from __future__ import annotations

from dataclasses import dataclass, field

# Share of the overall bar each stage takes; processing dominates.
STAGE_WEIGHTS: dict[str, tuple[float, float]] = {
    "download": (0.0, 10.0),
    "process": (10.0, 95.0),
    "upload": (95.0, 100.0),
}


@dataclass
class ProgressState:
    """The latest progress of one job, with what is needed to estimate time remaining."""

    stage: str = "download"
    stage_fraction: float = 0.0
    stage_started: float = 0.0
    subtasks: dict[str, float] = field(default_factory=dict)
    message: str | None = None  # the processor's latest plain words ("writing scene 3 of 6")

    def enter(self, stage: str, now: float) -> None:
        """Start a new stage; earlier stages count as done."""
        for name in STAGE_WEIGHTS:
            if name == stage:
                break
            self.subtasks[name] = 100.0
        self.stage, self.stage_fraction, self.stage_started = stage, 0.0, now
        self.subtasks[stage] = 0.0

    def say(self, message: str) -> bool:
        """Record the processor's latest message (cut to 300 characters); True when it changed."""
        message = message.strip()[:300]
        if not message or message == self.message:
            return False
        self.message = message
        return True

    def update(self, fraction: float) -> None:
        """Record the stage's fraction done; never moves backwards."""
        fraction = min(1.0, max(0.0, fraction))
        if fraction > self.stage_fraction:
            self.stage_fraction = fraction
            self.subtasks[self.stage] = round(fraction * 100, 1)

    @property
    def percent(self) -> float:
        lo, hi = STAGE_WEIGHTS.get(self.stage, (0.0, 100.0))
        return round(lo + (hi - lo) * self.stage_fraction, 1)

    def eta_seconds(self, now: float) -> float | None:
        """Time left in the current stage from its rate so far (None until there is a rate)."""
        elapsed = now - self.stage_started
        if self.stage_fraction <= 0.02 or elapsed <= 0:
            return None
        return round(elapsed * (1 - self.stage_fraction) / self.stage_fraction, 1)
