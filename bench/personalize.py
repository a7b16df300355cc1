"""Does personal ranking find what each user likes? Simulated users with hidden tastes.

Each simulated user has hidden weights over visible attributes (shape, colour palette, line style,
density, orientation) and rates diagrams 1-5 by them (with noise). After 5, 20 and 50 ratings, the
final ranking (CNN + the user's predicted rating from `--personal-model`, by default the configured
one; the real LearnedScorer path) orders 8 fresh candidates per request; NDCG@3 against the user's
true (noise-free) order, next to CNN-only and random ranking in the same run. Target: personalized
beats CNN-only by >= 0.1 at 20 ratings. These variants differ in look by construction: a unit check;
bench/taste.py measures the same on the generator's own candidates.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace

import numpy as np
from _common import emit

from ml.diagram import CANVAS_HEIGHT, CANVAS_WIDTH, Diagram
from ml.pipeline import Candidate
from ml.scoring.personal import RatedDiagram
from ml.scoring.ranking import LearnedScorer, ScoringSettings
from training.layouts import PALETTES, dense_network

SHAPES = ("circle", "rectangle", "round rectangle")
STYLES = ("solid arrow", "solid line", "dashed line")
ATTRIBUTES = {
    "shape": SHAPES,
    "palette": tuple(range(len(PALETTES))),
    "style": STYLES,
    "density": ("sparse", "dense"),
    "orientation": ("horizontal", "vertical"),
}


def variant(layers: list[int], attrs: dict) -> Diagram:
    base = dense_network(layers, PALETTES[attrs["palette"]], attrs["style"])
    nodes = []
    for n in base.nodes:
        size = round(n.width * (0.6 if attrs["density"] == "sparse" else 1.25))
        x, y = n.x, n.y
        if attrs["orientation"] == "vertical":
            x = round(CANVAS_WIDTH / 2 + (n.y - CANVAS_HEIGHT / 2) * 1.4)
            y = round(CANVAS_HEIGHT / 2 + (n.x - CANVAS_WIDTH / 2) * 0.5)
        nodes.append(replace(n, x=x, y=y, shape=attrs["shape"], width=size, height=size))
    return Diagram(tuple(nodes))


def random_attrs(rng: random.Random) -> dict:
    return {name: rng.choice(values) for name, values in ATTRIBUTES.items()}


def random_layers(rng: random.Random) -> list[int]:
    return [rng.randint(1, 4)] + [rng.randint(2, 6) for _ in range(rng.randint(1, 2))] + [rng.randint(1, 3)]


class User:
    def __init__(self, rng: random.Random):
        self.weights = {(name, value): rng.uniform(-1, 1) for name, values in ATTRIBUTES.items() for value in values}
        self.rng = rng

    def utility(self, attrs: dict) -> float:
        return sum(self.weights[(name, value)] for name, value in attrs.items())

    def true_rating(self, attrs: dict) -> float:
        return float(np.clip(3 + 1.2 * self.utility(attrs), 1, 5))

    def rate(self, attrs: dict) -> int:
        return int(np.clip(round(self.true_rating(attrs) + self.rng.gauss(0, 0.4)), 1, 5))


def ndcg_at_3(order: list[int], relevance: list[float]) -> float:
    def dcg(indices):
        return sum((2 ** relevance[i] - 1) / np.log2(rank + 2) for rank, i in enumerate(indices[:3]))

    ideal = dcg(sorted(range(len(relevance)), key=lambda i: -relevance[i]))
    return float(dcg(order) / ideal) if ideal > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--requests", type=int, default=20, help="test requests per user (8 candidates each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=ScoringSettings.k, help="k-NN neighbours")
    parser.add_argument("--user-weight", type=float, default=ScoringSettings.user_weight)
    parser.add_argument("--personal-model", default=ScoringSettings.personal_model, help="knn | ridge | pairwise")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scorer = LearnedScorer(ScoringSettings(k=args.k, user_weight=args.user_weight, personal_model=args.personal_model))
    budgets = (5, 20, 50)

    # Test requests shared by all users: 8 candidates each, same structure, different attributes.
    tests = []
    for _ in range(args.requests):
        layers = random_layers(rng)
        attrs = [random_attrs(rng) for _ in range(8)]
        tests.append((attrs, [variant(layers, a) for a in attrs]))
    history_pool = [(a, variant(random_layers(rng), a)) for a in (random_attrs(rng) for _ in range(max(budgets)))]
    history_latents = scorer.embed([d for _, d in history_pool])

    results = {b: {"personal": [], "cnn": [], "random": []} for b in budgets}
    for _ in range(args.users):
        user = User(random.Random(rng.random()))
        rated = [RatedDiagram("u", user.rate(a), z, d) for (a, d), z in zip(history_pool, history_latents)]
        for budget in budgets:
            score = scorer.for_user("u", rated[:budget])
            for attrs, diagrams in tests:
                candidates = [Candidate("", d) for d in diagrams]
                score(candidates)
                relevance = [user.true_rating(a) for a in attrs]
                by = lambda key, shown=candidates: sorted(range(8), key=lambda i: -shown[i].scores[key])  # noqa: E731
                results[budget]["personal"].append(ndcg_at_3(by("final_score"), relevance))
                results[budget]["cnn"].append(ndcg_at_3(by("cnn_score"), relevance))
                results[budget]["random"].append(ndcg_at_3(rng.sample(range(8), 8), relevance))

    figures = {
        "bench": "personalize",
        "users": args.users,
        "requests_per_user": args.requests,
        "k": args.k,
        "personal_model": args.personal_model,
        "user_weight": args.user_weight,
    }
    for budget in budgets:
        for method, values in results[budget].items():
            figures[f"ndcg3_{method}_{budget}"] = round(float(np.mean(values)), 4)
        figures[f"gain_vs_cnn_{budget}"] = round(
            figures[f"ndcg3_personal_{budget}"] - figures[f"ndcg3_cnn_{budget}"], 4
        )
        print(
            f"{budget:>2} ratings: personal {figures[f'ndcg3_personal_{budget}']:.3f}, "
            f"CNN-only {figures[f'ndcg3_cnn_{budget}']:.3f}, random {figures[f'ndcg3_random_{budget}']:.3f}"
        )
    figures["target_gain_at_20"] = 0.1
    figures["meets_target"] = figures["gain_vs_cnn_20"] >= 0.1
    emit(figures)


if __name__ == "__main__":
    main()
