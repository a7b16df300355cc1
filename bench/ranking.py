"""What the pipeline's ranking gets out of N candidates: its top pick against the first sample and
against an oracle, for N = 1, 8, 16, 32 drawn from one pool of samples.

    python bench/ranking.py                              # embedded model, 150 held-out requests, pool of 32
    python bench/ranking.py --pool runs/pool-32.json     # reuse that pool (sampled and saved if missing)

Each request's pool is sampled once (one batched call of the largest N, seed = the request's
index); a smaller N is the first N of the same pool, so every row sees the same samples. The pick
is `ml.pipeline.run`'s rank 1 over those N texts (grounding, agreement, readability), what
`training.evaluate --candidates N` scores. Baselines in the same run: the first candidate (one
sample) and the oracle (any of the N is right: the most a ranking could get from them). The gap
oracle - pick is what better ranking could still win; the oracle itself is what more samples win.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import PoolGenerator, emit

from ml.parser import ParseError, parse
from ml.pipeline import run
from training.evaluate import HELDOUT_SPLIT
from training.structure import structure_ok
from training.synthetic import read_jsonl


def sample_pool(model: str, split: Path, limit: int, size: int) -> list[dict]:
    from tqdm import tqdm

    from ml.generator import GeneratorSettings, LocalGenerator

    generator = LocalGenerator(GeneratorSettings(model=model))
    examples = read_jsonl(split)[:limit]
    return [
        {"request": e.request, "family": e.family, "spec": e.spec, "texts": generator.generate(e.request, size, seed=i)}
        for i, e in enumerate(tqdm(examples, desc="sampling"))
    ]


def right(text: str, row: dict) -> bool:
    try:
        return structure_ok(parse(text).diagram, row["family"], row["spec"])
    except ParseError:
        return False


def measure(pool: list[dict], sizes: list[int]) -> dict:
    """Share of requests right for each N: first sample, the pipeline's pick, any (oracle); per family."""
    counts: dict[str, dict[str, int]] = {}
    for row in pool:
        verdicts = [right(text, row) for text in row["texts"]]
        verdict_of = dict(zip(row["texts"], verdicts))  # the pick is one of the texts: no second parse
        for n in sizes:
            pick = run(row["request"], PoolGenerator(row["texts"]), n).candidates[0]
            outcome = {"first": verdicts[0], "pick": verdict_of[pick.text], "oracle": any(verdicts[:n])}
            for group in ("all", row["family"]):
                tally = counts.setdefault(f"{n}:{group}", {"n": 0, "first": 0, "pick": 0, "oracle": 0})
                tally["n"] += 1
                for key, value in outcome.items():
                    tally[key] += value
    return {
        key: {name: round(tally[name] / tally["n"], 4) for name in ("first", "pick", "oracle")}
        for key, tally in counts.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/tiny-sft")
    parser.add_argument("--split", default=str(HELDOUT_SPLIT))
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--sizes", default="1,8,16,32", help="candidate counts to compare (comma-separated)")
    parser.add_argument("--pool", default="", help="JSON file of sampled pools: read if it exists, else written")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    pool_path = Path(args.pool) if args.pool else None
    if pool_path and pool_path.exists():
        pool = json.loads(pool_path.read_text())[: args.limit]
    else:
        pool = sample_pool(args.model, Path(args.split), args.limit, max(sizes))
        if pool_path:
            pool_path.parent.mkdir(parents=True, exist_ok=True)
            pool_path.write_text(json.dumps(pool))
    if len(pool[0]["texts"]) < max(sizes):
        raise SystemExit(f"the pool has {len(pool[0]['texts'])} samples a request; --sizes asks for {max(sizes)}")
    figures = measure(pool, sizes)
    print(f"{'N':>4} {'first':>7} {'pick':>7} {'oracle':>7}   (share of {len(pool)} requests right)")
    for n in sizes:
        row = figures[f"{n}:all"]
        print(f"{n:>4} {row['first']:>7.1%} {row['pick']:>7.1%} {row['oracle']:>7.1%}")
    emit({"bench": "ranking", "model": args.model, "requests": len(pool), "sizes": sizes, "figures": figures})


if __name__ == "__main__":
    main()
