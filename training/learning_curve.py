"""Structure accuracy against training minutes: evaluate every checkpoint of a run on one split.

    python -m training.learning_curve runs/tiny-v4 [runs/tiny-v4b] --out runs/tiny-v4/curve.json
    python -m training.learning_curve runs/tiny-v6 --after runs/tiny-v4/curve.json --out runs/tiny-v6/curve.json

Needs a run trained with `--keep-checkpoints 0` (all checkpoints kept) and the `timeline.jsonl` that
training/sft.py writes at every save (training minutes per step); training/sft_gpu.py's runs give
their final model, and their minutes are a GPU's. The JSON feeds the model card's
learning-curve plot and table (training/model_card.py --curve).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings
from training.evaluate import HELDOUT_SPLIT, SETS, evaluate_model, read_cases


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of each saved checkpoint, in training order.

    A run that kept no checkpoints (training/sft_gpu.py saves only its final model) gives its final one."""
    found = [(int(p.name.split("-")[-1]), p) for p in run.glob("checkpoint-*") if (p / "config.json").exists()]
    if not found and (run / "final" / "training.json").exists():
        found = [(json.loads((run / "final" / "training.json").read_text())["steps"], run / "final")]
    return sorted(found)


def trained_on(folder: Path) -> str:
    """Where a checkpoint's minutes were spent: training/sft_gpu.py records its GPU, training/sft.py runs here."""
    record = folder / "training.json"
    device = json.loads(record.read_text()).get("device") if record.exists() else None
    return device if device and device != "cpu" else "CPU"


def minutes_by_step(run: Path) -> dict[int, float]:
    path = run / "timeline.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["step"]: row["minutes"] for row in rows}


def learning_curve(
    runs: list[Path],
    split: Path,
    limit: int = 150,
    temperature: float = 0.8,
    seed: int = 0,
    earlier: dict | None = None,
    every: int = 1,
    start: Path | None = None,
) -> dict:
    """One point per checkpoint: step, training minutes, and the evaluation figures (overall and per family).

    Several runs are stages of one model (each started with `--init` from the one before): their
    steps and minutes continue from the previous stage's last checkpoint. `earlier` is the curve
    of the stages before `runs`, already measured on the same requests; its points are kept.
    `start` is the model the first run began from, measured as step 0 (when there is no `earlier`);
    `every` keeps every n-th checkpoint (and always the last), as each point costs a full evaluation."""
    examples = read_cases(split)[: limit or None]
    points = list(earlier["points"]) if earlier else []
    if start is not None and not points:
        generator = LocalGenerator(
            GeneratorSettings(model=str(start), sampling=SamplingSettings(temperature=temperature))
        )
        points.append(
            {
                "run": str(start),
                "step": 0,
                "minutes": 0.0,
                "device": trained_on(start),
                "results": evaluate_model(generator, examples, seed),
            }
        )
    step_offset = points[-1]["step"] if points else 0
    minute_offset = (points[-1]["minutes"] or 0.0) if points else 0.0
    for run in runs:
        minutes = minutes_by_step(run)
        found = checkpoints(run)
        for i, (step, folder) in enumerate(found):
            if (i + 1) % every and i + 1 != len(found):
                continue
            generator = LocalGenerator(
                GeneratorSettings(model=str(folder), sampling=SamplingSettings(temperature=temperature))
            )
            results = evaluate_model(generator, examples, seed)
            spent = minutes.get(step)
            point = {
                "run": str(run),
                "step": step + step_offset,
                "minutes": None if spent is None else round(spent + minute_offset, 2),
                "results": results,
                "device": trained_on(folder),
            }
            points.append(point)
            print(
                f"{run}: step {point['step']:>6}  {point['minutes'] or float('nan'):6.1f} min  "
                f"structure {100 * results['all']['structure']:5.1f} %",
                flush=True,
            )
        if points:
            step_offset = points[-1]["step"]
            minute_offset = points[-1]["minutes"] or minute_offset
    names = (earlier["runs"] if earlier else []) + [str(run) for run in runs]
    return {"runs": names, "split": str(split), "examples": len(examples), "points": points}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "runs",
        nargs="+",
        help="training output folders with checkpoint-* and timeline.jsonl, "
        "in training order (later ones continued from earlier ones with --init)",
    )
    parser.add_argument("--split", default=str(HELDOUT_SPLIT), help=f"a set's name ({', '.join(SETS)}) or a path")
    parser.add_argument("--every", type=int, default=1, help="evaluate every n-th checkpoint (and the last)")
    parser.add_argument("--start", default=None, help="the model the first run started from (step 0)")
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--temperature", type=float, default=SamplingSettings.temperature)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--after",
        default=None,
        help="curve JSON of the earlier stages (same requests): continue it instead of re-measuring",
    )
    args = parser.parse_args(argv)
    earlier = json.loads(Path(args.after).read_text()) if args.after else None
    curve = learning_curve(
        [Path(r) for r in args.runs],
        SETS.get(args.split, Path(args.split)),
        args.limit,
        args.temperature,
        earlier=earlier,
        every=args.every,
        start=Path(args.start) if args.start else None,
    )
    Path(args.out).write_text(json.dumps(curve, indent=1))


if __name__ == "__main__":
    main()
