"""The [scoring] section of config.toml, light to import (no torch): the config loads it first."""

from __future__ import annotations

from dataclasses import dataclass

from ml.errors import UserError
from ml.paths import SHIPPED_SCORERS

METHODS = ("knn", "ridge", "pairwise")  # ml.scoring.personal: how a user's rating is predicted
EXPLORE_METHODS = ("none", "slot", "mmr")  # ml.pipeline.Exploration: how the shown few are picked


@dataclass
class ScoringSettings:
    """The [scoring] section of config.toml."""

    cnn: str = str(SHIPPED_SCORERS / "cnn.safetensors")
    ae: str = str(SHIPPED_SCORERS / "ae.safetensors")
    readability_weight: float = 1.0
    user_weight: float = 2.0  # taste counts twice (bench/taste.py: 4 to 8 changed little)
    personal_model: str = "ridge"  # knn (latents) | ridge | pairwise (style features; bench/taste.py)
    personal_alpha: float = 1.0  # ridge / pairwise: L2 penalty (larger: fewer ratings move less)
    k: int = 5  # knn: neighbours
    min_ratings: int = 3  # fewer own ratings: everyone's, then none
    explore: str = "slot"  # how the shown few are picked among equally right: none | slot | mmr
    explore_margin: float = 1.0  # an explored pick's final score at most this far below the best's
    explore_weight: float = 5.0  # mmr: final-score points per unit of style distance

    def __post_init__(self) -> None:
        if self.personal_model not in METHODS:
            raise UserError(
                f"config: [scoring] personal_model must be one of {', '.join(METHODS)}, got {self.personal_model!r}"
            )
        if self.explore not in EXPLORE_METHODS:
            raise UserError(
                f"config: [scoring] explore must be one of {', '.join(EXPLORE_METHODS)}, got {self.explore!r}"
            )
