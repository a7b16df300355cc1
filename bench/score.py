"""Scoring cost per request: render + CNN + AE + k-NN for 8 candidates; target <= 150 ms on 2 cores.

Baseline in the same run: analytic readability alone for the same 8 candidates.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
from _common import emit

from ml.parser import serialize
from ml.pipeline import Candidate, readability_scorer
from ml.render import render
from ml.scoring.personal import RatedDiagram
from ml.scoring.ranking import LearnedScorer
from training.synthetic import generate, reference_diagram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ratings", type=int, default=50, help="past ratings of the user (k-NN size)")
    args = parser.parse_args()
    scorer = LearnedScorer()
    examples = generate(8 * args.rounds + args.ratings, "test", seed=7)
    diagrams = [reference_diagram(e) for e in examples]
    rng = random.Random(0)
    history = diagrams[: args.ratings]
    latents = scorer.embed(history)
    ratings = [RatedDiagram("u1", rng.randint(1, 5), latent) for latent in latents]

    def learned(batch):
        candidates = [Candidate(serialize(d), d) for d in batch]
        for c in candidates:
            c.image = render(c.diagram)
        readability_scorer(candidates)
        scorer.for_user("u1", ratings)(candidates)

    def analytic(batch):
        candidates = [Candidate(serialize(d), d) for d in batch]
        for c in candidates:
            c.image = render(c.diagram)
        readability_scorer(candidates)

    batches = [diagrams[args.ratings + 8 * i : args.ratings + 8 * (i + 1)] for i in range(args.rounds)]
    learned(batches[0])  # warm-up
    times = {"learned": [], "analytic": []}
    for batch in batches:
        for name, func in (("learned", learned), ("analytic", analytic)):
            start = time.perf_counter()
            func(batch)
            times[name].append(time.perf_counter() - start)
    learned_ms = 1000 * statistics.median(times["learned"])
    analytic_ms = 1000 * statistics.median(times["analytic"])
    figures = {
        "bench": "score",
        "candidates": 8,
        "user_ratings": args.ratings,
        "render_cnn_ae_knn_ms": round(learned_ms, 1),
        "baseline_render_analytic_ms": round(analytic_ms, 1),
        "learned_overhead_ms": round(learned_ms - analytic_ms, 1),
        "target_ms": 150,
        "meets_target": learned_ms <= 150,
        "p90_ms": round(1000 * float(np.percentile(times["learned"], 90)), 1),
    }
    print(f"8 candidates: render+CNN+AE+kNN {learned_ms:.0f} ms (median), analytic only {analytic_ms:.0f} ms")
    emit(figures)


if __name__ == "__main__":
    main()
