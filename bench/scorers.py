"""Learned scorers on held-out diagrams (test split, unseen structures and phrasings).

CNN vs the analytic readability it learned from: Spearman and MAE (the seed's CNN had MAE 0.77),
next to a constant predictor in the same run. Autoencoder: held-out reconstruction error, and how
often a diagram's 5 nearest latents share its family, next to raw pixels reduced by PCA.
Targets: Spearman >= 0.9, MAE < 0.77, family agreement >= 90 %.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import emit
from scipy.stats import spearmanr
from sklearn.decomposition import PCA

from ml.scoring import nets
from ml.scoring.ranking import ScoringSettings, resolve_path
from training.scorer_data import build
from training.train_ae import ae_metrics, family_agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bases", type=int, default=300)
    parser.add_argument("--per-base", type=int, default=6)
    args = parser.parse_args()
    settings = ScoringSettings()
    cnn, cnn_meta = nets.load(resolve_path(settings.cnn))
    ae, ae_meta = nets.load(resolve_path(settings.ae))
    data = build(args.bases, args.per_base, seed=12345, split="test", progress=False)

    predicted = nets.predict(cnn, data.images)
    mae = float(np.abs(predicted - data.labels).mean())
    constant_mae = float(np.abs(np.median(data.labels) - data.labels).mean())
    rho = float(spearmanr(predicted, data.labels).statistic)

    ae_figures = ae_metrics(ae, data)
    clean = np.array([True] + [g != p for g, p in zip(data.groups[1:], data.groups[:-1])])
    pixels = data.images[clean].reshape(int(clean.sum()), -1)
    pca = PCA(n_components=ae.config["latent"], random_state=0).fit_transform(pixels)
    pixel_agreement = family_agreement(pca, data.families[clean])

    figures = {
        "bench": "scorers",
        "held_out_images": len(data),
        "held_out_diagrams": int(clean.sum()),
        "cnn_spearman": round(rho, 4),
        "cnn_mae": round(mae, 4),
        "baseline_constant_mae": round(constant_mae, 4),
        "seed_cnn_mae": 0.77,
        "ae_reconstruction_mse": round(ae_figures["reconstruction_mse"], 5),
        "ae_family_top5": round(ae_figures["family_top5"], 4),
        "baseline_pca_pixels_family_top5": round(pixel_agreement, 4),
        "cnn_version": cnn_meta["version"],
        "ae_version": ae_meta["version"],
        "meets_spearman": rho >= 0.9,
        "meets_mae": mae < 0.77,
        "meets_family": ae_figures["family_top5"] >= 0.9,
    }
    print(
        f"CNN: Spearman {rho:.3f}, MAE {mae:.3f} (constant {constant_mae:.3f}); "
        f"AE: family top-5 {ae_figures['family_top5']:.3f} (PCA pixels {pixel_agreement:.3f})"
    )
    emit(figures)


if __name__ == "__main__":
    main()
