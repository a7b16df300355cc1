"""What the bot (or any front end) needs from `ml`: draw a request for a user, and reload models.

Blocking by design: a front end calls `draw` on a worker thread (asyncio.to_thread), so an event
loop never waits on the model. Ratings come in as plain data (from storage, fetched by the
caller), so this module never touches the database.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from diagrambot.config import Settings
from ml.generator import EMBEDDED_MODEL, Generator, make_generator
from ml.pipeline import Result, readability_scorer, run
from ml.scoring.personal import RatedDiagram
from ml.scoring.ranking import LearnedScorer, load_scorer

log = logging.getLogger(__name__)
__all__ = ["DiagramService", "RatedDiagram"]


def _is_embedded(settings) -> bool:
    """Whether the generator is the embedded local model (the one ORPO jobs tune; others are left as configured)."""
    model = Path(settings.model)
    model = model if model.is_absolute() or model.exists() else EMBEDDED_MODEL.parent.parent / model
    return settings.backend == "local" and not settings.adapter and model.resolve() == EMBEDDED_MODEL.resolve()


class DiagramService:
    """Owns the generator and the learned scorer; `reload` swaps in retrained versions."""

    def __init__(self, settings: Settings, generator: Generator | None = None,
                 scorer: LearnedScorer | None = None):
        self.settings = settings
        self._lock = threading.Lock()
        self._generator = generator
        self._scorer = scorer if scorer is not None else load_scorer(settings.scoring)
        self._tunable = _is_embedded(settings.generator)

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                self._generator = make_generator(self.settings.generator)
            return self._generator

    @property
    def scorer(self) -> LearnedScorer | None:
        with self._lock:
            return self._scorer

    @property
    def model_name(self) -> str:
        return getattr(self.generator, "name", "generator")

    def draw(self, request: str, user_id: str | None = None, n: int | None = None,
             ratings: Sequence[RatedDiagram] = (), seed: int | None = None,
             progress: Callable[[str], None] | None = None) -> Result:
        """Generate, render, score and rank candidates for one request (best first)."""
        n = n or self.settings.pipeline.candidates
        scorer = self.scorer
        scorers = [readability_scorer] + ([scorer.for_user(user_id, ratings)] if scorer else [])
        return run(request, self.generator, n, scorers=scorers, seed=seed, progress=progress)

    def reload(self, cnn: str | None = None, ae: str | None = None, generator: str | None = None) -> None:
        """Load scorer weights again (after a retrain; paths of the new active versions if given),
        and a tuned generator (an ORPO job's model folder) when the embedded model is the one serving.

        New models are built before the swap, so a broken file leaves the old one serving."""
        settings = replace(self.settings.scoring, cnn=cnn or self.settings.scoring.cnn,
                           ae=ae or self.settings.scoring.ae)
        scorer = load_scorer(settings)
        tuned = None
        if generator and self._tunable:
            tuned_settings = replace(self.settings.generator, model=generator)
            tuned = make_generator(tuned_settings)
        elif generator:
            log.info("tuned generator %s not loaded: the configured generator is not the embedded model", generator)
        with self._lock:
            self._scorer, self.settings.scoring = scorer, settings
            if tuned is not None:
                self._generator, self.settings.generator = tuned, tuned_settings
        log.info("models reloaded (cnn=%s, ae=%s, generator=%s)", settings.cnn, settings.ae,
                 self.settings.generator.model)
