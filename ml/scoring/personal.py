"""A user's predicted rating for a new diagram: distance-weighted k-NN over the diagrams they rated.

Latents are L2-normalised, so distances are comparable across autoencoder versions (0 to 2).
Weights follow the seed (1 / max(d, 0.1)^2). With fewer ratings than `min_ratings`, the
prediction falls back to every user's ratings near the diagram, then to no personal term; the
result says which source was used and on how many neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class RatedDiagram:
    """One past rating: who rated, the value (1-5), and the rated diagram's latent vector."""

    user_id: str
    value: float
    latent: np.ndarray | None


@dataclass(frozen=True)
class Prediction:
    value: float | None     # predicted rating on 0-5, None when there is nothing to go on
    source: str             # "user" | "everyone" | "none"
    neighbours: int


def _weights(distances: np.ndarray) -> np.ndarray:
    return 1.0 / np.maximum(distances, 0.1) ** 2


def normalise(latents: np.ndarray) -> np.ndarray:
    latents = np.asarray(latents, dtype=np.float64)
    return latents / np.maximum(np.linalg.norm(latents, axis=-1, keepdims=True), 1e-9)


class PersonalPredictor:
    def __init__(self, k: int = 5, min_ratings: int = 3):
        self.k = k
        self.min_ratings = min_ratings

    def _fit_predict(self, rated: Sequence[RatedDiagram], latents: np.ndarray) -> np.ndarray:
        from sklearn.neighbors import KNeighborsRegressor   # here: importing sklearn costs seconds

        k = min(self.k, len(rated))
        model = KNeighborsRegressor(n_neighbors=k, weights=_weights)
        model.fit(normalise(np.stack([r.latent for r in rated])), np.array([r.value for r in rated]))
        return model.predict(normalise(latents))

    def predict(self, latents: np.ndarray, user_id: str | None, ratings: Sequence[RatedDiagram]) -> list[Prediction]:
        """One prediction per row of `latents` for `user_id`, from all known `ratings`."""
        usable = [r for r in ratings if r.latent is not None and len(r.latent) == latents.shape[1]]
        own = [r for r in usable if user_id is not None and str(r.user_id) == str(user_id)]
        if len(own) >= self.min_ratings:
            chosen, source = own, "user"
        elif len(usable) >= self.min_ratings:
            chosen, source = usable, "everyone"
        else:
            return [Prediction(None, "none", 0) for _ in range(len(latents))]
        values = self._fit_predict(chosen, latents)
        neighbours = min(self.k, len(chosen))
        return [Prediction(float(np.clip(v, 0, 5)), source, neighbours) for v in values]
