"""The planner alone: how often it reads a request into the right plan, before anything is drawn.

    python bench/planner.py --candidate runs/planner/final              # vs the shipped planner
    python bench/planner.py --sets dev,hand-en,hand-ko --sample 30

Fast (no drawer), so it is the first check of a newly trained planner: the drawer draws a right
plan right almost always (models/planner/README.md), so the pipeline's exact rate follows this one.
For every request, the planner's readings with the seed `bench/open_vocab.py` gives it (the
request's index), and per set and model:
- `greedy`: the greedy reading alone;
- `chosen`: the reading `Planner.plan` keeps (the vote), what the drawer is given;
- `any`: some reading is right (what a better choice among the same readings could reach);
- `none_read`: no reading at all (the drawer then reads the request itself).
`dev` is training/dev/plan-dev.jsonl, the set the planner is tuned on; the others are the frozen
sets, for judging. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import ROOT, emit, pick


def score(planner, cases) -> dict:
    """The planner's readings of every case, tallied by what was right."""
    from ml.planner import choose
    from training.plan_train import plan_matches

    counts = {"greedy": 0, "chosen": 0, "any": 0, "none_read": 0}
    seconds = []
    for i, case in enumerate(cases):
        start = time.perf_counter()
        readings = planner.readings(case.request, seed=i)
        seconds.append(time.perf_counter() - start)
        right = [plan_matches(p, case.family, case.spec) for p in readings]
        chosen = choose(readings, case.request)
        counts["greedy"] += bool(right) and right[0]
        counts["chosen"] += chosen is not None and plan_matches(chosen, case.family, case.spec)
        counts["any"] += any(right)
        counts["none_read"] += not readings
    return {
        **{k: round(v / len(cases), 4) for k, v in counts.items()},
        "n": len(cases),
        "median_s": round(statistics.median(seconds), 3),
    }


def main() -> None:
    from ml.paths import EMBEDDED_PLANNER
    from ml.planner import Planner
    from training.evaluate import SETS, read_cases

    sets = {"dev": ROOT / "training" / "dev" / "plan-dev.jsonl", **SETS}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", default="", help="a newly trained planner, measured beside the shipped one")
    parser.add_argument("--baseline", default=str(EMBEDDED_PLANNER), help="the planner to compare with")
    parser.add_argument("--sets", default="dev,hand-en,hand-ko,disjoint")
    parser.add_argument("--sample", type=int, default=0, help="N requests per set, evenly spaced (0 = all)")
    parser.add_argument("--samples", type=int, default=8, help="plans sampled besides the greedy one")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    models = {"baseline": args.baseline, **({"candidate": args.candidate} if args.candidate else {})}
    planners = {key: Planner.load(path, args.samples) for key, path in models.items()}
    figures: dict = {"bench": "planner", "samples": args.samples, **models}
    for name in args.sets.split(","):
        cases = pick(read_cases(sets[name]), 0, args.sample)
        for key, planner in planners.items():
            figures[f"{name}_{key}"] = score(planner, cases)
            print(f"{name}_{key}", figures[f"{name}_{key}"], flush=True)
    emit(figures)


if __name__ == "__main__":
    main()
