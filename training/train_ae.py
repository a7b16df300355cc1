"""Train the convolutional autoencoder whose latents drive the per-user k-NN.

    python -m training.train_ae --bases 1500 --per-base 4 --latent 32 --out models/scorers/ae

Reconstruction loss on whole rendered diagrams (clean and degraded), split by diagram. Reports
held-out reconstruction error and how often a diagram's 5 nearest latents share its family.
"""

from __future__ import annotations

import numpy as np
import torch

from ml.scoring import nets
from ml.scoring.personal import normalise
from training.fit import FitSettings, fit, scorer_cli
from training.scorer_data import ScorerDataset


def ae_loss(model, images, _targets):
    return torch.nn.functional.mse_loss(model(images), model.target(images))


def family_agreement(latents: np.ndarray, families: np.ndarray, k: int = 5, block: int = 1024) -> float:
    """Share of the k nearest neighbours (excluding itself) that belong to the same family.

    Plain numpy over blocks of `block` rows (on unit vectors the nearest are the most similar):
    validation sets are small, and the retrain process starts seconds faster without sklearn.
    """
    k = min(k, len(latents) - 1)
    if k < 1:
        return 0.0
    points = normalise(latents)
    same = []
    for start in range(0, len(points), block):
        similarity = points[start : start + block] @ points.T
        rows = np.arange(len(similarity))
        similarity[rows, rows + start] = -np.inf  # never its own neighbour
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        same.append(families[nearest] == families[start : start + block, None])
    return float(np.concatenate(same).mean())


def ae_metrics(model, data: ScorerDataset) -> dict:
    with torch.inference_mode():
        images = torch.from_numpy(data.images)
        error = float(ae_loss(model, images, None))
    clean = np.array([True] + [g != p for g, p in zip(data.groups[1:], data.groups[:-1])])
    latents = nets.predict(model, data.images[clean])
    return {"reconstruction_mse": error, "family_top5": family_agreement(latents, data.families[clean]), "n": len(data)}


def train_ae(
    train: ScorerDataset,
    val: ScorerDataset,
    settings: FitSettings,
    latent: int = 32,
    progress: bool = True,
    start_from: str | None = None,
):
    model = nets.load(start_from)[0] if start_from else nets.ConvAutoencoder(latent)
    report = fit(model, ae_loss, (train.images, train.labels), (val.images, val.labels), settings, progress)
    return model, {**ae_metrics(model, val), "minutes": report["minutes"], "epochs": len(report["history"])}


def main(argv: list[str] | None = None) -> None:
    scorer_cli(
        argv,
        __doc__,
        "ae",
        lambda train, val, settings, args: train_ae(train, val, settings, args.latent),
        per_base=4,
        extra=lambda parser: parser.add_argument("--latent", type=int, default=32),
    )


if __name__ == "__main__":
    main()
