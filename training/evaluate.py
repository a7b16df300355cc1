"""Evaluate generator checkpoints on a split: parse rate, exact structure, readability, length, speed.

    python -m training.evaluate runs/tiny-v1/final models/tiny-sft
    python -m training.evaluate models/tiny-sft --candidates 8   # what the product posts first

The default split is the frozen held-out set every shipped model is compared on
(training/heldout/test-v4.jsonl: phrasings and structures never seen in training).

Prints one table with the checkpoints side by side and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings
from ml.parser import ParseError, parse
from ml.pipeline import run
from ml.prompt import answer_ids
from ml.readability import readability
from training.structure import structure_ok
from training.synthetic import Example, read_jsonl

log = logging.getLogger(__name__)
HELDOUT_SPLIT = Path(__file__).parent / "heldout" / "test-v4.jsonl"
ROWS = [("parse", "parse rate"), ("structure", "exact structure"), ("readability", "readability (0-5)"),
        ("token_ratio", "tokens / reference"), ("seconds", "s / request")]


@dataclass
class Tally:
    parsed: int = 0
    structured: int = 0
    total: int = 0
    readability: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        mean = statistics.fmean
        return {"n": self.total, "parse": self.parsed / max(self.total, 1),
                "structure": self.structured / max(self.total, 1),
                "readability": mean(self.readability) if self.readability else 0.0,
                "token_ratio": mean(self.ratios) if self.ratios else 0.0,
                "seconds": mean(self.seconds) if self.seconds else 0.0}


def _answer(generator: LocalGenerator, request: str, candidates: int, seed: int) -> str:
    """One sampled answer, or with candidates > 1 the product's pick: the top of the pipeline's ranking."""
    if candidates <= 1:
        return generator.generate(request, 1, seed=seed)[0]
    return run(request, generator, candidates, seed=seed).candidates[0].text


def evaluate_model(generator: LocalGenerator, examples: list[Example], seed: int = 0, candidates: int = 1) -> dict:
    """Figures for one generator over the examples, overall and per family."""
    tallies: dict[str, Tally] = {"all": Tally()}
    for i, example in enumerate(tqdm(examples, desc=generator.name, leave=False)):
        start = time.perf_counter()
        text = _answer(generator, example.request, candidates, seed + i)
        elapsed = time.perf_counter() - start
        reference = len(answer_ids(generator.tokenizer, example.answer))
        produced = len(answer_ids(generator.tokenizer, text))
        for key in ("all", example.family):
            tally = tallies.setdefault(key, Tally())
            tally.total += 1
            tally.seconds.append(elapsed)
            tally.ratios.append(produced / max(reference, 1))
            try:
                diagram = parse(text).diagram
            except ParseError:
                continue
            tally.parsed += 1
            tally.readability.append(readability(diagram).score)
            tally.structured += structure_ok(diagram, example.family, example.spec)
    return {key: tally.summary() for key, tally in tallies.items()}


def table(results: dict[str, dict]) -> str:
    names = list(results)
    width = max(22, *(len(n) + 2 for n in names))
    lines = ["metric".ljust(22) + "".join(n.rjust(width) for n in names)]
    for key, title in ROWS:
        cells = []
        for name in names:
            value = results[name]["all"][key]
            cells.append((f"{100 * value:.1f} %" if key in ("parse", "structure") else f"{value:.2f}").rjust(width))
        lines.append(title.ljust(22) + "".join(cells))
    families = sorted({f for r in results.values() for f in r if f != "all"})
    for family in families:
        cells = [f"{100 * results[n].get(family, {}).get('structure', 0):.1f} %".rjust(width) for n in names]
        lines.append(f"structure: {family}".ljust(22) + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="checkpoint folders (or hub ids)")
    parser.add_argument("--split", default=str(HELDOUT_SPLIT))
    parser.add_argument("--limit", type=int, default=150, help="examples to evaluate (0 = all)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("--no-grammar", action="store_true")
    parser.add_argument("--temperature", type=float, default=SamplingSettings.temperature)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", type=int, default=1,
                        help="sample this many per request and score the pipeline's top-ranked one")
    args = parser.parse_args(argv)
    examples = read_jsonl(Path(args.split))
    if args.limit:
        examples = examples[:args.limit]
    results = {}
    for model in args.models:
        sampling = SamplingSettings(temperature=args.temperature, grammar=not args.no_grammar)
        generator = LocalGenerator(GeneratorSettings(model=model, sampling=sampling))
        results[model] = evaluate_model(generator, examples, args.seed, args.candidates)
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps({"split": args.split, "examples": len(examples), "results": results},
                                             indent=1))


if __name__ == "__main__":
    main()
