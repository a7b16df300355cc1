"""Settings of the drawing core that every front end shares, light to import (no torch).

The [generator] and [scoring] sections live beside the code they configure (ml/generator.py,
ml/scoring/ranking.py); this module holds [pipeline] and `DrawSettings`, the three sections the
drawing service reads. The roof (diagrambot/config.py) builds them from config.toml and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ml.errors import UserError

if TYPE_CHECKING:
    from ml.generator import GeneratorSettings
    from ml.scoring.settings import ScoringSettings


@dataclass
class PipelineSettings:
    """[pipeline]: how many candidates are sampled per request and how many are shown."""

    candidates: int = 16  # sampled per request, in one batch
    top: int = 3  # shown to the user
    max_candidates: int = 16  # upper bound a user may ask for

    def __post_init__(self) -> None:
        if self.candidates > self.max_candidates:
            raise UserError(
                f"config: [pipeline] candidates ({self.candidates}) must be at most "
                f"max_candidates ({self.max_candidates})"
            )

    def candidate_count(self, requested: int | None) -> int:
        """How many candidates to sample: the request's count, or the default; ValueError says the bounds."""
        n = self.candidates if requested is None else requested
        if not 1 <= n <= self.max_candidates:
            raise ValueError(f"candidates must be between 1 and {self.max_candidates}")
        return n


class DrawSettings(Protocol):
    """What the drawing service reads: any object with these sections (the roof's Settings is one)."""

    generator: GeneratorSettings
    pipeline: PipelineSettings
    scoring: ScoringSettings
