"""Train the CNN readability regressor on whole rendered diagrams labelled by analytic readability.

    python -m training.train_cnn --bases 1500 --per-base 6 --out models/scorers/cnn

Split by diagram (never by augmented copy); early stopping on the validation split; saves
safetensors + metadata (version, data size, metrics). The nightly retrain (training/retrain.py)
adds rated diagrams from storage, whose target blends the mean user rating with the analytic score.
"""

from __future__ import annotations

import numpy as np
import torch

from ml.scoring import nets
from training.fit import FitSettings, fit, scorer_cli
from training.scorer_data import ScorerDataset

RATING_BLEND = 0.5  # share of the mean user rating in a rated diagram's target


def cnn_loss(model, images, labels):
    return torch.nn.functional.smooth_l1_loss(model(images), labels)


def regression_metrics(model, data: ScorerDataset) -> dict:
    from scipy.stats import spearmanr  # here, not at the top: the AE retrain never needs scipy

    predicted = nets.predict(model, data.images)
    return {
        "mae": float(np.abs(predicted - data.labels).mean()),
        "spearman": float(spearmanr(predicted, data.labels).statistic),
        "n": len(data),
    }


def blended_targets(analytic: np.ndarray, mean_ratings: np.ndarray) -> np.ndarray:
    """A rated diagram's target: mean rating (1-5) blended with its analytic score (0-5)."""
    return (RATING_BLEND * mean_ratings + (1 - RATING_BLEND) * analytic).astype(np.float32)


def train_cnn(
    train: ScorerDataset,
    val: ScorerDataset,
    settings: FitSettings,
    start_from: str | None = None,
    progress: bool = True,
):
    model = nets.load(start_from)[0] if start_from else nets.ReadabilityCNN()
    report = fit(model, cnn_loss, (train.images, train.labels), (val.images, val.labels), settings, progress)
    return model, {**regression_metrics(model, val), "minutes": report["minutes"], "epochs": len(report["history"])}


def main(argv: list[str] | None = None) -> None:
    scorer_cli(argv, __doc__, "cnn", lambda train, val, settings, args: train_cnn(train, val, settings), per_base=6)


if __name__ == "__main__":
    main()
