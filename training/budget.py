"""Wall-time budgets: one deadline object, and the trainer callback built on it (SFT and ORPO).

training/fit.py's loop checks a `Deadline` after each epoch; the Hugging Face trainers get
`time_budget`, a callback that checks one after each optimizer step.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


class Deadline:
    """`minutes` of wall time from now; None: no limit."""

    def __init__(self, minutes: float | None):
        self.minutes, self.start = minutes, time.monotonic()

    def spent(self) -> float:
        """Minutes since the start."""
        return (time.monotonic() - self.start) / 60

    def passed(self) -> bool:
        return self.minutes is not None and self.spent() > self.minutes


def time_budget(minutes: float, timeline: Path | None = None):
    """A trainer callback that stops training once `minutes` of wall time are spent (0 = no limit).

    With a `timeline` (SFT), the stop comes with a final save and the training minutes at every
    save are appended to it (JSONL), so checkpoints map to a learning curve; a resumed run adds its
    minutes to those already there. Without one (ORPO), the caller saves the model itself.
    """
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.deadline = Deadline(minutes or None)
            lines = timeline.read_text().splitlines() if timeline and timeline.exists() else []
            self.offset = json.loads(lines[-1])["minutes"] if lines else 0.0

        def on_step_end(self, args, state, control, **kwargs):
            if self.deadline.passed():
                control.should_training_stop = True
                control.should_save = timeline is not None
            return control

        def on_save(self, args, state, control, **kwargs):
            if timeline is None:
                return control
            timeline.parent.mkdir(parents=True, exist_ok=True)
            with timeline.open("a") as f:
                f.write(
                    json.dumps({"step": state.global_step, "minutes": round(self.offset + self.deadline.spent(), 2)})
                    + "\n"
                )
            return control

    return Clock()
