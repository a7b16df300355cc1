"""Structure accuracy against training minutes: evaluate every checkpoint of a run on one split.

    python -m training.learning_curve runs/tiny-v4 --split data/synthetic-v4/test.jsonl --out runs/tiny-v4/curve.json

Needs a run trained with `--keep-checkpoints 0` (all checkpoints kept) and the `timeline.jsonl` that
training/sft.py writes at every save (training minutes per step). The JSON feeds the model card's
learning-curve plot and table (training/model_card.py --curve).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings
from training.evaluate import evaluate_model
from training.synthetic import read_jsonl


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of each saved checkpoint, in training order."""
    found = [(int(p.name.split("-")[-1]), p) for p in run.glob("checkpoint-*") if (p / "config.json").exists()]
    return sorted(found)


def minutes_by_step(run: Path) -> dict[int, float]:
    path = run / "timeline.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["step"]: row["minutes"] for row in rows}


def learning_curve(run: Path, split: Path, limit: int = 150, temperature: float = 0.8, seed: int = 0) -> dict:
    """One point per checkpoint: step, training minutes, and the evaluation figures (overall and per family)."""
    examples = read_jsonl(split)[:limit or None]
    minutes = minutes_by_step(run)
    points = []
    for step, folder in checkpoints(run):
        generator = LocalGenerator(GeneratorSettings(model=str(folder),
                                                     sampling=SamplingSettings(temperature=temperature)))
        results = evaluate_model(generator, examples, seed)
        points.append({"step": step, "minutes": minutes.get(step), "results": results})
        print(f"step {step:>6}  {minutes.get(step, float('nan')):6.1f} min  "
              f"structure {100 * results['all']['structure']:5.1f} %", flush=True)
    return {"run": str(run), "split": str(split), "examples": len(examples), "points": points}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="training output folder with checkpoint-* and timeline.jsonl")
    parser.add_argument("--split", required=True)
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--temperature", type=float, default=SamplingSettings.temperature)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    curve = learning_curve(Path(args.run), Path(args.split), args.limit, args.temperature)
    Path(args.out).write_text(json.dumps(curve, indent=1))


if __name__ == "__main__":
    main()
