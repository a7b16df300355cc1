"""What the bot (or any front end) needs from `ml`: draw a request for a user, and reload models.

Blocking by design: a front end calls `draw` on a worker thread (asyncio.to_thread), so an event
loop never waits on the model. Ratings come in as plain data (from storage, fetched by the
caller), so this module never touches the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from ml.generator import Generator, make_generator
from ml.paths import EMBEDDED_MODEL, resolve
from ml.pipeline import Exploration, Result, readability_scorer, run
from ml.scoring import nets
from ml.scoring.personal import RatedDiagram
from ml.scoring.ranking import LearnedScorer, load_scorer, resolve_path
from ml.settings import DrawSettings

log = logging.getLogger(__name__)
__all__ = ["DiagramService", "RatedDiagram", "ReloadResult", "Service"]
SCORER_KINDS = ("cnn", "ae")


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: the files now serving, by kind, and the kinds it could not load.

    For a kind in `failed` (kind -> why, one line) the model that served before keeps serving;
    when there was none, scoring falls back to analytic readability.
    """

    loaded: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        """One line for people: what loaded and what did not."""
        parts = [f"{kind}: {Path(path).name}" for kind, path in self.loaded.items()]
        text = f"loaded {', '.join(parts)}" if parts else "loaded nothing"
        if self.failed:
            text += "; could not load " + "; ".join(f"{kind} ({why})" for kind, why in self.failed.items())
            text += ", the previous model of that kind keeps serving"
        return text


class Service(Protocol):
    """What a front end needs from the drawing core. DiagramService is the real one; the tests'
    FakeService (real pipeline, scripted model texts) satisfies the same interface."""

    @property
    def scorer(self) -> LearnedScorer | None:
        """The learned scorer serving now (its autoencoder tags the latents ratings must carry), or None."""

    def draw(
        self,
        request: str,
        user_id: str | None = None,
        n: int | None = None,
        ratings: Sequence[RatedDiagram] = (),
        seed: int | None = None,
        progress: Callable[[str], None] | None = None,
        top: int | None = None,
    ) -> Result:
        """Generate, render, score and rank candidates for one request (best first; the first `top`
        are the ones shown, picked to be right, good and informative)."""

    def reload(self, cnn: str | None = None, ae: str | None = None, generator: str | None = None) -> ReloadResult:
        """Load retrained models; a kind that cannot be loaded keeps its previous model."""


def _is_embedded(settings) -> bool:
    """Whether the generator is the embedded local model (the one ORPO jobs tune; others are left as configured)."""
    return (
        settings.backend == "local"
        and not settings.adapter
        and resolve(settings.model).resolve() == EMBEDDED_MODEL.resolve()
    )


class DiagramService:
    """Owns the generator and the learned scorer; `reload` swaps in retrained versions."""

    def __init__(self, settings: DrawSettings, generator: Generator | None = None, scorer: LearnedScorer | None = None):
        self.settings = settings
        self._lock = threading.Lock()
        self._generator = generator
        self._scorer = scorer if scorer is not None else load_scorer(settings.scoring)
        self._tunable = _is_embedded(settings.generator)
        self._default_scoring = settings.scoring  # what a reload without a path serves

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

    def draw(
        self,
        request: str,
        user_id: str | None = None,
        n: int | None = None,
        ratings: Sequence[RatedDiagram] = (),
        seed: int | None = None,
        progress: Callable[[str], None] | None = None,
        top: int | None = None,
    ) -> Result:
        """Generate, render, score and rank candidates for one request (best first; the first `top`,
        default [pipeline] top, are picked as [scoring] explore says)."""
        n = n or self.settings.pipeline.candidates
        scorer = self.scorer
        scorers = [readability_scorer] + ([scorer.for_user(user_id, ratings)] if scorer else [])
        exploration = Exploration.configured(self.settings.scoring, shown=top or self.settings.pipeline.top)
        return run(request, self.generator, n, scorers=scorers, seed=seed, progress=progress, exploration=exploration)

    def reload(self, cnn: str | None = None, ae: str | None = None, generator: str | None = None) -> ReloadResult:
        """Load scorer weights again (after a retrain: the paths of the active versions; None: the
        configured default), and a tuned generator (an ORPO job's model folder) when the embedded
        model is the one serving.

        Every model is loaded before anything is swapped, kind by kind: a file that cannot be
        loaded leaves the model of that kind that was serving in place, is logged as an error and
        is named in the result, so a caller never reports a success that did not happen."""
        wanted = {"cnn": cnn or self._default_scoring.cnn, "ae": ae or self._default_scoring.ae}
        serving = self.scorer
        loaded, failed, nets_by_kind, paths = {}, {}, {}, {}
        for kind, path in wanted.items():
            try:
                nets_by_kind[kind], paths[kind] = nets.load(resolve_path(path)), path
                loaded[kind] = path
            except nets.ModelLoadError as error:
                failed[kind] = str(error)
                if serving is not None:
                    nets_by_kind[kind] = (getattr(serving, kind), getattr(serving, f"{kind}_meta"))
                    paths[kind] = getattr(serving.settings, kind)
                log.error(
                    "could not load the %s model: %s; %s",
                    kind,
                    error,
                    f"{paths[kind]} keeps serving" if kind in paths else "no learned scorer serves",
                )
        scorer, settings = serving, self.settings.scoring
        if len(nets_by_kind) == len(SCORER_KINDS):
            settings = replace(self.settings.scoring, cnn=paths["cnn"], ae=paths["ae"])
            scorer = LearnedScorer(settings, cnn=nets_by_kind["cnn"], ae=nets_by_kind["ae"])
        tuned = None
        if generator and self._tunable:
            tuned_settings = replace(self.settings.generator, model=generator)
            try:
                tuned = make_generator(tuned_settings)
                loaded["generator"] = generator
            except Exception as error:  # noqa: BLE001 - any failure leaves the old generator serving
                failed["generator"] = f"{generator}: {type(error).__name__}: {error}"
                log.error("could not load the tuned generator %s; the old one keeps serving", generator, exc_info=error)
        elif generator:
            log.info("tuned generator %s not loaded: the configured generator is not the embedded model", generator)
        with self._lock:
            self._scorer, self.settings.scoring = scorer, settings
            if tuned is not None:
                self._generator, self.settings.generator = tuned, tuned_settings
        log.info(
            "models reloaded (cnn=%s, ae=%s, generator=%s)%s",
            settings.cnn,
            settings.ae,
            self.settings.generator.model,
            f"; FAILED: {failed}" if failed else "",
        )
        return ReloadResult(loaded, failed)
