"""A user's predicted rating for a new diagram, from the diagrams they rated.

Three models, chosen by `method` ([scoring] personal_model):

- "knn": distance-weighted k-NN over autoencoder latents (the seed's model). Latents are
  L2-normalised, so distances are comparable across autoencoder versions (0 to 2); weights follow
  the seed (1 / max(d, 0.1)^2).
- "ridge": a per-user ridge regression on the diagram's style features (ml/scoring/style.py:
  shape, line style, fill warmth, layout, size, labels): the user's mean rating plus what each
  feature adds. Few ratings give small weights, so the prediction stays near the mean and the
  readability score keeps deciding until the ratings say something.
- "pairwise": the same linear taste, learnt from the diagrams a user rated together (one request's
  shown set, `RatedDiagram.group`): within a set, a higher rating says "this one over that one",
  whatever the request was. Each rating's value less its set's mean is regressed on its features
  less the set's mean features (ridge), so a request that is rated low as a whole teaches nothing
  about style. Ratings without a group count as one set.

The style models need the rated diagrams (`RatedDiagram.diagram`) and the candidates' features;
ratings without a diagram fall back to the k-NN on latents. The user's own ratings come first (the
style model when `min_ratings` of them have their diagram, else the k-NN when enough have a
latent), then every user's ratings the same way (cold start), then no personal term; the result
says which source and model were used and on how many ratings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ml.diagram import Diagram
from ml.scoring import style
from ml.scoring.settings import METHODS


@dataclass(frozen=True)
class RatedDiagram:
    """One past rating: who rated, the value (1-5), the rated diagram's latent vector, and (for the
    style models) the rated diagram itself and the set it was shown in (e.g. its request's id)."""

    user_id: str
    value: float
    latent: np.ndarray | None
    diagram: Diagram | None = None
    group: Hashable | None = None


@dataclass(frozen=True)
class Prediction:
    value: float | None  # predicted rating on 0-5, None when there is nothing to go on
    source: str  # "user" | "everyone" | "none"
    neighbours: int  # ratings the prediction rests on (the k-NN's neighbours)
    model: str = "none"  # which model made it: knn | ridge | pairwise


def _weights(distances: np.ndarray) -> np.ndarray:
    return 1.0 / np.maximum(distances, 0.1) ** 2


def normalise(latents: np.ndarray) -> np.ndarray:
    latents = np.asarray(latents, dtype=np.float64)
    return latents / np.maximum(np.linalg.norm(latents, axis=-1, keepdims=True), 1e-9)


@lru_cache(maxsize=8192)
def style_of(diagram: Diagram) -> np.ndarray:
    """A rated diagram's style features (cached: the same ratings are read for every request)."""
    return style.features(diagram)


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Weights w minimising |x w - y|^2 + alpha |w|^2 (x, y already centred)."""
    return np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ y)


class PersonalPredictor:
    def __init__(self, k: int = 5, min_ratings: int = 3, method: str = "knn", alpha: float = 1.0):
        if method not in METHODS:
            raise ValueError(f"unknown personal model {method!r}; one of {', '.join(METHODS)}")
        self.k = k
        self.min_ratings = min_ratings
        self.method = method
        self.alpha = alpha

    # ------------------------------------------------------------------ k-NN on latents

    def _knn(self, rated: Sequence[RatedDiagram], latents: np.ndarray) -> np.ndarray:
        from sklearn.neighbors import KNeighborsRegressor  # here: importing sklearn costs seconds

        k = min(self.k, len(rated))
        model = KNeighborsRegressor(n_neighbors=k, weights=_weights)
        model.fit(
            normalise(np.stack([r.latent for r in rated if r.latent is not None])), np.array([r.value for r in rated])
        )
        return model.predict(normalise(latents))

    # ------------------------------------------------------------------ linear taste on style features

    def _linear(self, rated: Sequence[RatedDiagram], styles: np.ndarray) -> np.ndarray:
        x = np.stack([style_of(r.diagram) for r in rated]).astype(np.float64)
        y = np.array([r.value for r in rated], dtype=np.float64)
        if self.method == "pairwise":
            groups: dict = defaultdict(list)
            for index, r in enumerate(rated):
                groups[(str(r.user_id), r.group)].append(index)
            xc, yc = x.copy(), y.copy()
            for members in groups.values():
                xc[members] -= x[members].mean(axis=0)
                yc[members] -= y[members].mean()
        else:
            xc, yc = x - x.mean(axis=0), y - y.mean()
        w = _ridge(xc, yc, self.alpha)
        return y.mean() + (np.asarray(styles, dtype=np.float64) - x.mean(axis=0)) @ w

    def predict(
        self,
        latents: np.ndarray,
        user_id: str | None,
        ratings: Sequence[RatedDiagram],
        styles: np.ndarray | None = None,
    ) -> list[Prediction]:
        """One prediction per row of `latents` (and of `styles`, the candidates' style features)
        for `user_id`, from all known `ratings`."""
        latents = np.asarray(latents)
        count = len(latents) if styles is None else len(styles)
        with_diagram = (
            [r for r in ratings if r.diagram is not None] if self.method != "knn" and styles is not None else []
        )
        with_latent = [
            r for r in ratings if r.latent is not None and latents.ndim == 2 and len(r.latent) == latents.shape[1]
        ]
        # The user's own ratings first (the style model, else the k-NN), then everyone's, then nothing.
        for source in ("user", "everyone"):
            chosen = self._pick(with_diagram, user_id, source)
            if chosen and styles is not None:
                values = self._linear(chosen, styles)
                return [Prediction(float(np.clip(v, 0, 5)), source, len(chosen), self.method) for v in values]
            chosen = self._pick(with_latent, user_id, source)
            if chosen:
                values = self._knn(chosen, latents)
                neighbours = min(self.k, len(chosen))
                return [Prediction(float(np.clip(v, 0, 5)), source, neighbours, "knn") for v in values]
        return [Prediction(None, "none", 0) for _ in range(count)]

    def _pick(self, usable: list[RatedDiagram], user_id: str | None, source: str) -> list[RatedDiagram]:
        """The user's own usable ratings ("user") or everyone's ("everyone"), if there are enough."""
        if source == "user":
            usable = [r for r in usable if user_id is not None and str(r.user_id) == str(user_id)]
        return usable if len(usable) >= self.min_ratings else []
