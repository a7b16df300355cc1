"""The final ranking: w_r * CNN readability + w_u * the user's predicted rating.

The seed simply added the two 0-5 scores. Here the weights come from config, the result is a
weighted mean (so it stays on 0-5), and when there is no personal term (a user with no ratings
and nobody else's to fall back on) the final score is the CNN score alone. Every component stays
on the candidate, so the bot can show them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ml.scoring import nets
from ml.scoring.images import batch, render_input
from ml.scoring.personal import PersonalPredictor, RatedDiagram

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED = ROOT / "models" / "scorers"


@dataclass
class ScoringSettings:
    """The [scoring] section of config.toml."""

    cnn: str = str(SHIPPED / "cnn.safetensors")
    ae: str = str(SHIPPED / "ae.safetensors")
    readability_weight: float = 1.0
    user_weight: float = 2.0            # taste counts twice (bench/personalize.py: +0.14 NDCG@3 at 20 ratings)
    k: int = 5
    min_ratings: int = 3


def resolve_path(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.exists() or candidate.is_absolute() else ROOT / path


class LearnedScorer:
    """Loads the CNN and autoencoder once; `for_user` gives the pipeline a scorer for one request.

    `cnn` / `ae`: already loaded (model, metadata) pairs to use instead of the settings' files
    (a reload keeps the net that is serving when the new file of that kind cannot be loaded).
    """

    def __init__(self, settings: ScoringSettings | None = None, *, cnn: tuple | None = None,
                 ae: tuple | None = None):
        self.settings = settings or ScoringSettings()
        self.cnn, self.cnn_meta = cnn or nets.load(resolve_path(self.settings.cnn))
        self.ae, self.ae_meta = ae or nets.load(resolve_path(self.settings.ae))
        self.ae_version = nets.latent_version(self.ae_meta)   # tags the latents this AE makes
        self.personal = PersonalPredictor(self.settings.k, self.settings.min_ratings)
        self._lock = threading.Lock()   # BatchNorm modules in eval mode are safe, but keep one user at a time

    def inputs(self, diagrams) -> np.ndarray:
        return batch([render_input(d) for d in diagrams])

    def embed(self, diagrams) -> np.ndarray:
        """Autoencoder latents for diagrams (also used to re-embed stored candidates)."""
        with self._lock:
            return nets.predict(self.ae, self.inputs(diagrams))

    def for_user(self, user_id: str | None, ratings: Sequence[RatedDiagram] = ()):
        def score(candidates) -> None:
            arrays = self.inputs([c.diagram for c in candidates])
            with self._lock:
                readability = nets.predict(self.cnn, arrays)
                latents = nets.predict(self.ae, arrays)
            predictions = self.personal.predict(latents, user_id, ratings)
            w_r, w_u = self.settings.readability_weight, self.settings.user_weight
            for candidate, cnn, latent, personal in zip(candidates, readability, latents, predictions):
                candidate.latent, candidate.latent_version = latent.astype(np.float32), self.ae_version
                candidate.personal = personal
                candidate.scores["cnn_score"] = float(cnn)
                if personal.value is None:
                    candidate.scores["final_score"] = float(cnn)
                else:
                    candidate.scores["user_score"] = personal.value
                    candidate.scores["final_score"] = (w_r * float(cnn) + w_u * personal.value) / (w_r + w_u)
        return score


def load_scorer(settings: ScoringSettings) -> LearnedScorer | None:
    """The learned scorer, or None (with a warning) when its weights are missing or unreadable:
    ranking then falls back to analytic readability instead of failing the request."""
    missing = [p for p in (settings.cnn, settings.ae) if not resolve_path(p).exists()]
    if missing:
        log.warning("scorer weights missing (%s); ranking by analytic readability", ", ".join(missing))
        return None
    try:
        return LearnedScorer(settings)
    except nets.ModelLoadError as error:
        log.error("scorer weights unreadable (%s); ranking by analytic readability", error)
        return None
