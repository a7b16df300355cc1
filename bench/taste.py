"""Does personal ranking show a user more of what they like, on the generator's own candidates?

    python bench/taste.py                        # sample the pool if missing (slow, once), probe, replay
    python bench/taste.py --sample-only          # sample (or finish sampling) the pool, nothing else
    python bench/taste.py --skip-probe --users 40 --methods pairwise --explore none,slot

A fixed pool of real candidates is sampled once (the embedded model, 16 candidates for each of
about 40 varied requests: dense networks of at most 20 neurons, CNNs and flowcharts from the
hand-written and held-out sets; runs/taste-pool.json, about 40 minutes on 2 busy cores) and
replayed many times. Each request's candidates go through the real ranking path (ml.pipeline:
grounding, agreement, then the learned scorer's final score, with the personal term from
ml.scoring.ranking.LearnedScorer.personalize and the shown few from ml.pipeline.rank's Exploration).

Simulated users have hidden tastes over what a diagram visibly is: the majority line style and
shape, the fill palette, how warm the fills are, orientation, node size, labels. A user's true
utility is 3 + 0.7 x the sum of their weights for the diagram's attributes (clipped to 1-5); a
rating is that plus noise (sd 0.5), rounded. A user sees only what the bot shows: half the
requests (in random order) are their history, where the bot shows `--shown` candidates ranked
with the ratings so far and the user rates every one shown; the other half are test requests.
After 0, 5, 20 and 50 ratings, on every test request: the true utility of the personal rank 1,
of the rank 1 without ratings, and of the best candidate the ranking may choose from (the equally
right ones: same grounding and agreement as rank 1). gap_closed = (with - without) / (best -
without). Every method and exploration setting sees the same users, splits and rating noise.

The probe: can a linear classifier (logistic regression, 5-fold cross-validation grouped by
request) recover each attribute from the autoencoder latent, from the style features, or from
both? Balanced accuracy, next to chance (1 / the number of classes: what guessing scores). Rows are
the pool's candidates and synthetic variants (bench/personalize.py) that vary every attribute.

Figures (tiny-sft pool of 41 requests, 100 users, defaults ridge + slot): top-1 utility 3.13 /
3.27 / 3.35 after 5 / 20 / 50 ratings against 3.02 without ratings and 3.44 best available: 26 %,
59 %, 79 % of the gap closed (the k-NN on latents: 4 %, 15 %, 25 %). Within one request the
equally right candidates differ in palette, line style (dense) and box shape (CNNs) only; size,
orientation and labels never vary, and flowcharts have about two equally right candidates.

The last line is one JSON object (every figure: --out).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _common import ROOT, PoolGenerator, emit

HAND_SETS = (ROOT / "training" / "heldout" / "hand-en.jsonl", ROOT / "training" / "heldout" / "test-v4.jsonl")
FAMILY_QUOTA = {"dense": 14, "cnn": 12, "flowchart": 14}
MAX_NODES = 20  # dense requests up to this many neurons (the shipped model draws every one)
BUDGETS = (0, 5, 20, 50)
METHODS = ("knn", "ridge", "pairwise")
EXPLORE = ("none", "slot", "mmr")


# ---------------------------------------------------------------------------------------- the pool


def pick_requests(quota: dict[str, int]) -> list[dict]:
    """Varied requests of all three families: hand-written first, then the held-out test split."""
    rows, seen = [], set()
    for path in HAND_SETS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            family = row.get("family")
            if family not in quota or row["request"] in seen:
                continue
            if family == "dense" and sum(row["spec"]["layers"]) > MAX_NODES:
                continue
            if sum(r["family"] == family for r in rows) >= quota[family]:
                continue
            seen.add(row["request"])
            rows.append({"request": row["request"], "family": family, "spec": row.get("spec")})
    return rows


def sample_pool(model: str, quota: dict[str, int], n: int, path: Path) -> list[dict]:
    """Sample n candidates for each request, saving after each one (a stopped run resumes)."""
    done = json.loads(path.read_text())["requests"] if path.exists() else []
    have = {row["request"] for row in done}
    todo = [row for row in pick_requests(quota) if row["request"] not in have]
    if not todo:
        return done
    from ml.generator import GeneratorSettings, LocalGenerator

    generator = LocalGenerator(GeneratorSettings(model=model))
    path.parent.mkdir(parents=True, exist_ok=True)
    for row in todo:
        index = len(done)
        start = time.perf_counter()
        texts = generator.generate(row["request"], n, seed=index)
        done.append({**row, "seed": index, "texts": texts})
        path.write_text(json.dumps({"model": model, "n": n, "requests": done}))
        print(f"{index:>3} {row['family']:<9} {time.perf_counter() - start:5.1f}s  {row['request'][:70]}", flush=True)
    return done


def prepare(pool: list[dict], scorer) -> list[dict]:
    """Each request through the pipeline once: parsed, measured (CNN, latent, style), grounded."""
    from ml.pipeline import NO_EXPLORATION, readability_scorer, run

    prepared = []
    for row in pool:
        result = run(
            row["request"],
            PoolGenerator(row["texts"]),
            len(row["texts"]),
            scorers=[readability_scorer, scorer.measure],
            exploration=NO_EXPLORATION,
        )
        candidates = result.distinct
        if not candidates:
            continue
        for candidate in candidates:
            candidate.image = None  # keep memory small: the replay never draws
            candidate.attrs = attributes(candidate.diagram)
        prepared.append({**row, "candidates": candidates})
    return prepared


# ---------------------------------------------------------------------------------------- users


def _majority(values: list[str]) -> str:
    return Counter(values).most_common(1)[0][0] if values else "none"


def attributes(diagram) -> dict:
    """What a user sees in a diagram, in the user's terms (not the style features' code)."""
    nodes = diagram.nodes
    edges = list(diagram.edges())
    xs, ys = [n.x for n in nodes], [n.y for n in nodes]
    side = statistics.median((n.width * n.height) ** 0.5 for n in nodes)
    warm = sum(n.fill[0] - n.fill[2] > 30 for n in nodes) / len(nodes)
    cool = sum(n.fill[2] - n.fill[0] > 15 for n in nodes) / len(nodes)
    return {
        "lines": _majority([e.style for e in edges] or [n.line_style for n in nodes]),
        "shape": _majority([n.shape for n in nodes]),
        "palette": "/".join(sorted({"{:02x}{:02x}{:02x}".format(*n.fill) for n in nodes})),
        "orientation": "horizontal" if np.std(xs) / 1000 >= np.std(ys) / 600 else "vertical",
        "size": "small" if side < 45 else "medium" if side < 80 else "large",
        "labels": "labelled" if any(n.label for n in nodes) else "bare",
        "warmth": warm - cool,  # continuous, -1 (all cool) to 1 (all warm)
    }


class User:
    """Hidden weights over attribute values (drawn on first sight), a taste for warm or cool fills."""

    def __init__(self, seed: int):
        self.seed = seed
        self.warm = random.Random(f"{seed}:warm").uniform(-1.5, 1.5)
        self.weights: dict = {}

    def weight(self, name: str, value: str) -> float:
        if (name, value) not in self.weights:  # deterministic per user and value, whatever the order
            self.weights[(name, value)] = random.Random(f"{self.seed}:{name}:{value}").uniform(-1, 1)
        return self.weights[(name, value)]

    def utility(self, attrs: dict) -> float:
        total = sum(self.weight(k, v) for k, v in attrs.items() if k != "warmth") + self.warm * attrs["warmth"]
        return float(np.clip(3 + 0.7 * total, 1, 5))

    def rate(self, attrs: dict, rng: random.Random, offset: float = 0.0) -> int:
        return int(np.clip(round(self.utility(attrs) + offset + rng.gauss(0, 0.5)), 1, 5))


# ---------------------------------------------------------------------------------------- replay


def tier(ranked) -> list:
    """The candidates as right as rank 1 (same grounding and agreement): what taste may choose from."""
    top = ranked[0]
    key = (top.scores.get("grounding"), top.scores.get("agreement"))
    return [c for c in ranked if c.repeat_of is None and (c.scores.get("grounding"), c.scores.get("agreement")) == key]


def ranked_for(request: dict, scorer, user_id, ratings, exploration):
    from ml.pipeline import rank

    candidates = request["candidates"]
    scorer.personalize(candidates, user_id, ratings)
    return [c for c in rank(candidates, exploration) if c.ok and c.repeat_of is None]


def simulate(
    prepared: list[dict],
    scorer,
    user: User,
    split: tuple[list[int], list[int]],
    shown: int,
    exploration,
    request_noise: float = 0.0,
) -> dict:
    """One user's history (rating what is shown) and the test figures after each budget.

    `request_noise`: the sd of an offset shared by all ratings of one request (a user who rates a
    whole request low, whatever its look); 0 in the reported figures."""
    from ml.pipeline import NO_EXPLORATION
    from ml.scoring.personal import RatedDiagram

    history, test = split
    rng = random.Random(user.seed)  # the same noise for every method and setting compared
    ratings: list = []
    visits = 0
    while len(ratings) < max(BUDGETS) and visits < 10 * len(history):
        request = prepared[history[visits % len(history)]]
        ranked = ranked_for(request, scorer, "u", ratings, exploration)
        offset = rng.gauss(0, request_noise) if request_noise else 0.0
        for candidate in ranked[:shown]:
            ratings.append(
                RatedDiagram(
                    "u",
                    float(user.rate(candidate.attrs, rng, offset)),
                    candidate.latent,
                    candidate.diagram,
                    group=visits,
                )
            )
        visits += 1
    out = {}
    for budget in BUDGETS:
        rows = []
        for index in test:
            request = prepared[index]
            personal = ranked_for(request, scorer, "u", ratings[:budget], NO_EXPLORATION)[0]
            plain, options = request["plain"], request["tier"]
            rows.append(
                (
                    user.utility(personal.attrs),
                    user.utility(plain.attrs),
                    max(user.utility(c.attrs) for c in options),
                    request["family"],
                )
            )
        out[budget] = rows
    return {"budgets": out, "ratings": len(ratings)}


def shown_figures(prepared: list[dict], scorer, users: list[User], shown: int, exploration) -> dict:
    """At 0 ratings: the shown few's style variety and the utility and CNN score exploration costs."""
    from ml.scoring import style

    kinds, lines, palettes, distance, utility, cnn, top_utility = [], [], [], [], [], [], []
    for request in prepared:
        ranked = ranked_for(request, scorer, "u", [], exploration)[:shown]
        kinds.append(len({(c.attrs["lines"], c.attrs["shape"], c.attrs["palette"], c.attrs["size"]) for c in ranked}))
        lines.append(len({c.attrs["lines"] for c in ranked}))
        palettes.append(len({c.attrs["palette"] for c in ranked}))
        pairs = [style.distance(a.style, b.style) for i, a in enumerate(ranked) for b in ranked[i + 1 :]]
        distance.append(float(np.mean(pairs)) if pairs else 0.0)
        cnn.append(float(np.mean([c.scores["cnn_score"] for c in ranked])))
        utility.append(float(np.mean([[u.utility(c.attrs) for c in ranked] for u in users])))
        top_utility.append(float(np.mean([u.utility(ranked[0].attrs) for u in users])))
    return {
        "distinct_styles": round(float(np.mean(kinds)), 3),
        "distinct_line_styles": round(float(np.mean(lines)), 3),
        "distinct_palettes": round(float(np.mean(palettes)), 3),
        "mean_style_distance": round(float(np.mean(distance)), 4),
        "mean_shown_cnn": round(float(np.mean(cnn)), 4),
        "mean_shown_utility": round(float(np.mean(utility)), 4),
        "top1_utility": round(float(np.mean(top_utility)), 4),
    }


def _closed(with_: float, without: float, best: float) -> float | None:
    return round(float((with_ - without) / (best - without)), 3) if best > without + 1e-9 else None


def summarise(results: list[dict]) -> dict:
    """Per budget: mean top-1 utility with and without ratings, the best available, the share of
    the gap closed, the standard error of the per-user difference, how often the personal pick is
    worse, and the same three means by family."""
    figures = {}
    for budget in BUDGETS:
        rows = [row for r in results for row in r["budgets"][budget]]
        values = np.array([row[:3] for row in rows], dtype=np.float64)
        with_, without, best = values.mean(axis=0)
        diffs = values[:, 0] - values[:, 1]
        per_user = [np.mean([row[0] - row[1] for row in r["budgets"][budget]]) for r in results]
        figures[budget] = {
            "with": round(float(with_), 3),
            "without": round(float(without), 3),
            "best": round(float(best), 3),
            "gap_closed": _closed(with_, without, best),
            "diff_se": round(float(np.std(per_user, ddof=1) / np.sqrt(len(per_user))), 3)
            if len(per_user) > 1
            else None,
            "worse_share": round(float((diffs < -1e-9).mean()), 3),
        }
        for family in sorted({row[3] for row in rows}):
            part = np.array([row[:3] for row in rows if row[3] == family], dtype=np.float64).mean(axis=0)
            figures[budget][family] = [round(float(v), 3) for v in part] + [_closed(*part)]
    return figures


# ---------------------------------------------------------------------------------------- probe


def probe(prepared: list[dict], scorer, seed: int, synthetic: int) -> dict:
    """Balanced accuracy of linear probes for each attribute, on latent / style / both."""
    from personalize import random_attrs, random_layers, variant
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ml.pipeline import Candidate
    from ml.scoring import style

    diagrams, groups = [], []
    for index, request in enumerate(prepared):
        for candidate in request["candidates"]:
            diagrams.append(candidate.diagram)
            groups.append(f"pool-{index}")
    rng = random.Random(seed)
    for index in range(synthetic):
        layers = random_layers(rng)
        for _ in range(4):
            diagrams.append(variant(layers, random_attrs(rng)))
            groups.append(f"synthetic-{index}")
    candidates = [Candidate("", d) for d in diagrams]
    scorer.measure(candidates)
    latent = np.stack([c.latent for c in candidates])
    styles = style.batch(diagrams)
    views = {"latent": latent, "style": styles, "latent+style": np.hstack([latent, styles])}
    attrs = [attributes(d) for d in diagrams]
    targets = {name: [a[name] for a in attrs] for name in ("lines", "shape", "orientation", "size", "labels")}
    targets["warm_fills"] = [
        "warm" if a["warmth"] > 0.2 else "cool" if a["warmth"] < -0.2 else "neutral" for a in attrs
    ]
    palettes = Counter(a["palette"] for a in attrs)
    common = {p for p, count in palettes.most_common(8)}
    targets["palette"] = [a["palette"] if a["palette"] in common else "other" for a in attrs]
    groups_array = np.array(groups)
    table = {}
    for name, labels in targets.items():
        y = np.array(labels)
        counts = Counter(labels)
        row = {"classes": len(counts), "chance": round(1 / len(counts), 3)}  # balanced accuracy of a guess
        for view, x in views.items():
            predicted = np.empty(len(y), dtype=object)
            for train, test in GroupKFold(5).split(x, y, groups_array):
                if len(set(y[train])) < 2:
                    predicted[test] = y[train][0]
                    continue
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
                model.fit(x[train], y[train])
                predicted[test] = model.predict(x[test])
            row[view] = round(float(balanced_accuracy_score(y, predicted.astype(str))), 3)
        table[name] = row
    return {"rows": len(diagrams), "pool_rows": sum(g.startswith("pool") for g in groups), "table": table}


def print_probe(result: dict) -> None:
    print(f"\nlinear probe, balanced accuracy ({result['rows']} diagrams, {result['pool_rows']} from the pool)")
    print(f"{'attribute':<12} {'classes':>7} {'chance':>7} {'latent':>7} {'style':>7} {'both':>7}")
    for name, row in result["table"].items():
        print(
            f"{name:<12} {row['classes']:>7} {row['chance']:>7.3f} {row['latent']:>7.3f} "
            f"{row['style']:>7.3f} {row['latent+style']:>7.3f}"
        )


# ---------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "tiny-sft"))
    parser.add_argument(
        "--pool", default="runs/taste-pool.json", help="sampled candidates: read, or written if missing"
    )
    parser.add_argument("-n", type=int, default=16, help="candidates a request when sampling")
    parser.add_argument("--sample-only", action="store_true")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--shown", type=int, default=3, help="diagrams the bot shows (and the user rates) a request")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--explore", default=",".join(EXPLORE))
    parser.add_argument("--user-weight", type=float, default=None)
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--request-noise", type=float, default=0.0, help="sd of a rating offset shared by one request's shown diagrams"
    )
    parser.add_argument("--skip-probe", action="store_true")
    parser.add_argument("--synthetic", type=int, default=150, help="probe: synthetic structures (4 variants each)")
    parser.add_argument(
        "--out", default="runs/taste-result.json", help="every figure (the last line keeps the main ones)"
    )
    args = parser.parse_args()

    path = Path(args.pool)
    if args.sample_only or not path.exists():
        pool = sample_pool(args.model, FAMILY_QUOTA, args.n, path)
    else:
        pool = json.loads(path.read_text())["requests"]
    if args.sample_only:
        emit({"bench": "taste", "sampled": len(pool)})
        return

    from dataclasses import replace

    from ml.pipeline import NO_EXPLORATION, Exploration
    from ml.scoring.ranking import LearnedScorer, ScoringSettings

    start = time.perf_counter()
    defaults = ScoringSettings()
    base = replace(
        defaults,
        user_weight=args.user_weight if args.user_weight is not None else defaults.user_weight,
        personal_alpha=args.alpha if args.alpha is not None else defaults.personal_alpha,
    )
    scorer = LearnedScorer(base)
    prepared = prepare(pool, scorer)
    families = Counter(r["family"] for r in prepared)
    for request in prepared:  # without ratings: the same rank 1 for every user
        plain = ranked_for(request, scorer, None, [], NO_EXPLORATION)
        request["plain"], request["tier"] = plain[0], tier(plain)
    tiers = [len(r["tier"]) for r in prepared]
    print(
        f"{len(prepared)} requests ({dict(families)}), {np.mean([len(r['candidates']) for r in prepared]):.1f} "
        f"distinct candidates and {np.mean(tiers):.1f} equally right a request ({time.perf_counter() - start:.0f}s)"
    )
    figures: dict = {
        "bench": "taste",
        "requests": len(prepared),
        "families": dict(families),
        "users": args.users,
        "shown": args.shown,
        "user_weight": base.user_weight,
        "alpha": base.personal_alpha,
        "request_noise": args.request_noise,
        "distinct_per_request": round(float(np.mean([len(r["candidates"]) for r in prepared])), 2),
        "equally_right_per_request": round(float(np.mean(tiers)), 2),
    }

    if not args.skip_probe:
        figures["probe"] = probe(prepared, scorer, args.seed, args.synthetic)
        print_probe(figures["probe"])

    rng = random.Random(args.seed)
    users, splits = [], []
    for _ in range(args.users):
        users.append(User(rng.randrange(10**9)))
        order = list(range(len(prepared)))
        rng.shuffle(order)
        splits.append((order[: len(order) // 2], order[len(order) // 2 :]))

    print(f"\nshown top-{args.shown} at 0 ratings (style variety; what exploration costs)")
    figures["shown"] = {}
    for method in args.explore.split(","):
        exploration = (
            Exploration.configured(base, args.shown)
            if method == base.explore
            else replace(Exploration.configured(base, args.shown), method=method)
        )
        figures["shown"][method] = shown_figures(prepared, scorer, users, args.shown, exploration)
        print(f"  {method:<5} {figures['shown'][method]}")

    print(f"\n{'model':<9} {'explore':<7}" + "".join(f"  {b:>2}: with / without / best (closed)" for b in BUDGETS[1:]))
    figures["replay"] = {}
    for model in args.methods.split(","):
        scorer.settings = replace(base, personal_model=model)
        scorer.personal.method = model
        for method in args.explore.split(","):
            exploration = replace(Exploration.configured(base, args.shown), method=method)
            results = [
                simulate(prepared, scorer, user, split, args.shown, exploration, args.request_noise)
                for user, split in zip(users, splits)
            ]
            summary = summarise(results)
            figures["replay"][f"{model}/{method}"] = {str(b): summary[b] for b in BUDGETS}
            print(
                f"{model:<9} {method:<7}"
                + "".join(
                    f"  {summary[b]['with']:.2f} / {summary[b]['without']:.2f} / {summary[b]['best']:.2f} "
                    f"({summary[b]['gap_closed'] if summary[b]['gap_closed'] is not None else 0:+.2f})"
                    for b in BUDGETS[1:]
                ),
                flush=True,
            )
            print(
                " " * 18
                + "at 20 by family (with, without, best, closed): "
                + ", ".join(f"{family} {summary[20][family]}" for family in sorted(families)),
                flush=True,
            )
    scorer.settings = base
    chosen = f"{base.personal_model}/{base.explore}"
    if chosen in figures["replay"]:
        row = figures["replay"][chosen]
        figures["chosen"] = chosen
        figures["meets_target"] = bool(
            (row["20"]["gap_closed"] or 0) >= 0.5 and row["5"]["with"] >= row["5"]["without"]
        )
        for b in BUDGETS[1:]:
            for key in ("with", "without", "best", "gap_closed"):
                figures[f"{key}_{b}"] = row[str(b)][key]
    figures["seconds"] = round(time.perf_counter() - start, 1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=1, sort_keys=True))
    emit(compact(figures))


def compact(figures: dict) -> dict:
    """The last line: the set-up, the chosen setting's figures, each replay's gap closed, the probe."""
    short = {k: v for k, v in figures.items() if k not in ("probe", "replay", "shown")}
    short["gap_closed"] = {
        name: [row[str(b)]["gap_closed"] for b in BUDGETS[1:]] for name, row in figures.get("replay", {}).items()
    }
    if "probe" in figures:
        short["probe"] = {
            name: [row["chance"], row["latent"], row["style"], row["latent+style"]]
            for name, row in figures["probe"]["table"].items()
        }
    short["shown"] = {
        name: {
            k: row[k]
            for k in (
                "distinct_line_styles",
                "distinct_palettes",
                "mean_shown_cnn",
                "mean_shown_utility",
                "top1_utility",
            )
        }
        for name, row in figures.get("shown", {}).items()
    }
    return short


if __name__ == "__main__":
    main()
