"""The final ranking: w_r * CNN readability + w_u * the user's predicted rating.

The seed simply added the two 0-5 scores. Here the weights come from config, the result is a
weighted mean (so it stays on 0-5), and when there is no personal term (a user with no ratings
and nobody else's to fall back on) the final score is the CNN score alone. Every component stays
on the candidate, so the bot can show them.

The user's predicted rating comes from `personal_model` (ml/scoring/personal.py): by default a
per-user ridge regression over style features ("ridge"); "pairwise" learns the same from the
diagrams a user rated together; the seed's k-NN over autoencoder latents is "knn" (and what
ratings without their diagram fall back to). bench/taste.py measures them on the generator's own
candidates: at 20 ratings ridge closes about two thirds of the gap to the best available, k-NN a
tenth.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ml.paths import resolve
from ml.scores import Score
from ml.scoring import nets, style
from ml.scoring.images import batch, render_input
from ml.scoring.personal import PersonalPredictor, RatedDiagram
from ml.scoring.settings import ScoringSettings

log = logging.getLogger(__name__)


def resolve_path(path: str) -> Path:
    return resolve(path)


class LearnedScorer:
    """Loads the CNN and autoencoder once; `for_user` gives the pipeline a scorer for one request.

    `cnn` / `ae`: already loaded (model, metadata) pairs to use instead of the settings' files
    (a reload keeps the net that is serving when the new file of that kind cannot be loaded).
    """

    def __init__(self, settings: ScoringSettings | None = None, *, cnn: tuple | None = None, ae: tuple | None = None):
        self.settings = settings or ScoringSettings()
        self.cnn, self.cnn_meta = cnn or nets.load(resolve_path(self.settings.cnn))
        self.ae, self.ae_meta = ae or nets.load(resolve_path(self.settings.ae))
        self.ae_version = nets.latent_version(self.ae_meta)  # tags the latents this AE makes
        self.personal = PersonalPredictor(
            self.settings.k, self.settings.min_ratings, self.settings.personal_model, self.settings.personal_alpha
        )
        self._lock = threading.Lock()  # BatchNorm modules in eval mode are safe, but keep one user at a time

    def inputs(self, diagrams) -> np.ndarray:
        return batch([render_input(d) for d in diagrams])

    def embed(self, diagrams) -> np.ndarray:
        """Autoencoder latents for diagrams (also used to re-embed stored candidates)."""
        with self._lock:
            return nets.predict(self.ae, self.inputs(diagrams))

    def measure(self, candidates) -> None:
        """CNN readability and autoencoder latent of each candidate (what does not depend on the user)."""
        arrays = self.inputs([c.diagram for c in candidates])
        with self._lock:
            readability = nets.predict(self.cnn, arrays)
            latents = nets.predict(self.ae, arrays)
        for candidate, cnn, latent in zip(candidates, readability, latents):
            candidate.latent, candidate.latent_version = latent.astype(np.float32), self.ae_version
            candidate.scores[Score.CNN] = float(cnn)

    def personalize(self, candidates, user_id: str | None, ratings: Sequence[RatedDiagram] = ()) -> None:
        """The user's predicted rating and the final score of measured candidates."""
        if not candidates:
            return
        styles = np.stack(
            [c.style if getattr(c, "style", None) is not None else style.features(c.diagram) for c in candidates]
        )
        latents = np.stack([c.latent for c in candidates])
        predictions = self.personal.predict(latents, user_id, ratings, styles)
        w_r, w_u = self.settings.readability_weight, self.settings.user_weight
        for candidate, personal in zip(candidates, predictions):
            cnn = candidate.scores[Score.CNN]
            candidate.personal = personal
            candidate.scores.pop(Score.USER, None)
            if personal.value is None:
                candidate.scores[Score.FINAL] = cnn
            else:
                candidate.scores[Score.USER] = personal.value
                candidate.scores[Score.FINAL] = (w_r * cnn + w_u * personal.value) / (w_r + w_u)

    def for_user(self, user_id: str | None, ratings: Sequence[RatedDiagram] = ()):
        def score(candidates) -> None:
            self.measure(candidates)
            self.personalize(candidates, user_id, ratings)

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
