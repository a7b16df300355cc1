"""Preference tuning with ORPO: the generator learns which of its own diagrams readers prefer.

SFT only shows the model good diagrams; it still draws overlapping, off-canvas and miscounted
ones. ORPO adds to the SFT loss an odds-ratio term that lifts a chosen answer above a rejected one,
with no reference model. Two commands:
- pairs: preference pairs (JSONL), from the SFT model's own samples on synthetic requests (chosen:
  structurally right and most readable; rejected: the worst; only clear margins) or, with --db,
  from the bot's ratings (one user's higher- vs lower-rated candidate of one request);
- train: trl's ORPOTrainer on a pairs file, fed exactly SFT's token ids. --preset tiny: CPU, full
  fine-tune of the embedded model; --preset lora: GPU, LoRA r16 on q/k/v/o, gradient checkpointing,
  paged 8-bit AdamW. OUT/final is a merged model folder; OUT/final/training.json the run's record.

The library: training/orpo_pairs.py (pairs), training/orpo_trainer.py (presets, trainer, run),
training/orpo_job.py (the bot's ratings job, `python -m training.retrain --kind orpo`).

    python -m training.orpo pairs --model models/tiny-sft --data data/synthetic/train.jsonl --k 8 --limit 300 \\
        --out runs/orpo/pairs.jsonl
    python -m training.orpo pairs --db data/diagrambot.sqlite3 --out runs/orpo/rated.jsonl
    python -m training.orpo train --preset tiny --model models/tiny-sft --pairs runs/orpo/pairs.jsonl \\
        --out runs/orpo-tiny --max-steps 200
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training import options
from training.options import group, option
from training.orpo_pairs import PairSettings, stored_rating_pairs, synthetic_pairs, write_pairs
from training.orpo_trainer import ORPOSettings, train


@dataclass
class PairsCommand:
    out: str = option(help="the pairs file to write (JSONL)")
    model: str = option(ORPOSettings.model, "the SFT model that samples the candidates")
    data: str = option("", "synthetic split (JSONL) whose requests are sampled")
    db: str = option("", "build the pairs from the ratings in this database instead")
    data_dir: str = option("", "the database's data folder (default: beside it)")
    limit: int = option(0, "requests to sample (0 = all)")
    temperature: float = option(0.8, "sampling temperature")
    threads: int = option(0, "CPU threads for torch, 0 = torch's default")
    pairs: PairSettings = group(PairSettings)


def pairs_command(command: PairsCommand) -> dict:
    if command.db:
        pairs = stored_rating_pairs(command.db, command.data_dir, command.pairs.min_gap)
    else:
        from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings
        from training.synthetic import read_jsonl

        if not command.data:
            raise SystemExit("pairs: give --data SPLIT.jsonl (synthetic) or --db FILE (ratings)")
        examples = read_jsonl(Path(command.data))[: command.limit or None]
        generator = LocalGenerator(
            GeneratorSettings(
                model=command.model, threads=command.threads, sampling=SamplingSettings(temperature=command.temperature)
            )
        )
        pairs = synthetic_pairs(generator, examples, command.pairs)
    return {"pairs": write_pairs(pairs, command.out), "out": command.out}


def train_command(settings: ORPOSettings) -> dict:
    final, record = train(settings)
    summary = {key: record[key] for key in ("pairs", "eval_pairs", "steps", "wall_minutes", "memory")}
    summary.update(
        final=str(final),
        loss_before=record["eval_before"].get("eval_loss"),
        loss_after=record["eval_after"].get("eval_loss"),
    )
    return summary


# name -> (settings dataclass, the command that runs on an instance of it, help)
COMMANDS: dict[str, tuple[type, Callable[[Any], dict], str]] = {
    "pairs": (PairsCommand, pairs_command, "build preference pairs (synthetic requests or stored ratings)"),
    "train": (ORPOSettings, train_command, "ORPO on a pairs file"),
}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = options.parser(__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (settings, _, help) in COMMANDS.items():
        options.add(commands.add_parser(name, help=help, formatter_class=options.HelpFormatter), settings)
    args = parser.parse_args(argv)
    settings, run, _ = COMMANDS[args.command]
    print(json.dumps(run(options.build(settings, args))))


if __name__ == "__main__":
    main()
