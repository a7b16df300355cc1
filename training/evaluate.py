"""Evaluate generator checkpoints on frozen sets: parse, structure, labels, invented labels, speed.

    python -m training.evaluate models/tiny-sft                         # every set, one sample each
    python -m training.evaluate models/tiny-sft --candidates 16 --sets hand-en,hand-ko
    python -m training.evaluate runs/a/final models/tiny-sft --sets test-v4 --limit 150

The sets (training/heldout/):
- `hand-en`, `hand-ko`: requests written by hand the way people type them, in English and Korean,
  with names the training data never uses. These are the ones that say whether a user gets *their*
  diagram.
- `disjoint`: generated flowcharts whose names come from a word pool disjoint from training's.
- `test-v4`: generated requests with phrasings and structures training never shows (but training's
  names).

Per set and family: parse rate; `shape` (the structure with labels ignored); `exact` (structure
and labels right, the headline figure); `invented` (the share of label words that are neither in
the request nor in a small fixed vocabulary such as Input/Hidden/Conv); readability; seconds per
request. Prints a table and writes the figures as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ml.diagram import Diagram
from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings
from ml.parser import ParseError, parse
from ml.pipeline import run
from ml.readability import readability
from training.structure import shape_ok, structure_ok

log = logging.getLogger(__name__)
HELDOUT = Path(__file__).parent / "heldout"
SETS = {
    "hand-en": HELDOUT / "hand-en.jsonl",
    "hand-ko": HELDOUT / "hand-ko.jsonl",
    "disjoint": HELDOUT / "disjoint-v1.jsonl",
    "test-v4": HELDOUT / "test-v4.jsonl",
}
HELDOUT_SPLIT = SETS["test-v4"]
# Label words a diagram may use without the request saying them: layer roles and kinds.
FIXED_WORDS = {
    "input",
    "hidden",
    "output",
    "conv",
    "pool",
    "maxpool",
    "max",
    "dense",
    "fc",
    "layer",
    "softmax",
    "relu",
    "x",
    "입력",
    "은닉",
    "출력",
    "층",
}
_WORD = re.compile(r"[^\W\d_]+|\d+")
ROWS = [
    ("parse", "parse"),
    ("shape", "structure"),
    ("exact", "structure + labels"),
    ("invented", "invented label words"),
    ("readability", "readability (0-5)"),
    ("seconds", "s / request"),
]


@dataclass(frozen=True)
class Case:
    """One request and the exact structure (with labels) it asks for."""

    request: str
    family: str
    spec: dict
    id: str = ""


def read_cases(path: Path) -> list[Case]:
    """A set's cases: hand-written lines ({id, request, family, spec, kind}) or generated examples."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            cases.append(Case(row["request"], row["family"], row["spec"], row.get("id", f"{Path(path).stem}-{number}")))
    return cases


def invented_words(request: str, diagram: Diagram) -> tuple[int, int]:
    """(label words the request does not contain and the fixed vocabulary does not hold, all label words)."""
    asked = request.casefold()
    words = [w for node in diagram.nodes if node.label for w in _WORD.findall(node.label.casefold())]
    invented = [w for w in words if w not in FIXED_WORDS and w not in asked]
    return len(invented), len(words)


@dataclass
class Tally:
    total: int = 0
    parsed: int = 0
    shaped: int = 0
    exact: int = 0
    invented: int = 0
    words: int = 0
    readability: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        share = lambda k: k / max(self.total, 1)  # noqa: E731
        return {
            "n": self.total,
            "parse": share(self.parsed),
            "shape": share(self.shaped),
            "exact": share(self.exact),
            "structure": share(self.exact),
            "invented": self.invented / max(self.words, 1),
            "readability": statistics.fmean(self.readability) if self.readability else 0.0,
            "seconds": statistics.fmean(self.seconds) if self.seconds else 0.0,
            "failures": self.failures,
        }


def _answer(generator: LocalGenerator, request: str, candidates: int, seed: int) -> str:
    """One sampled answer, or with candidates > 1 the product's pick: the top of the pipeline's ranking."""
    if candidates <= 1:
        return generator.generate(request, 1, seed=seed)[0]
    return run(request, generator, candidates, seed=seed).candidates[0].text


def evaluate_model(generator: LocalGenerator, cases: list, seed: int = 0, candidates: int = 1) -> dict:
    """Figures for one generator over the cases, overall and per family."""
    tallies: dict[str, Tally] = {"all": Tally()}
    for i, case in enumerate(tqdm(cases, desc=generator.name, leave=False)):
        start = time.perf_counter()
        text = _answer(generator, case.request, candidates, seed + i)
        elapsed = time.perf_counter() - start
        try:
            diagram = parse(text).diagram
        except ParseError:
            diagram = None
        for key in ("all", case.family):
            tally = tallies.setdefault(key, Tally())
            tally.total += 1
            tally.seconds.append(elapsed)
            if diagram is None:
                continue
            tally.parsed += 1
            tally.readability.append(readability(diagram).score)
            tally.shaped += shape_ok(diagram, case.family, case.spec)
            right = structure_ok(diagram, case.family, case.spec)
            tally.exact += right
            invented, words = invented_words(case.request, diagram)
            tally.invented += invented
            tally.words += words
            if not right and key == "all":
                tally.failures.append(getattr(case, "id", "") or case.request[:60])
    return {key: tally.summary() for key, tally in tallies.items()}


def _cell(key: str, value: float) -> str:
    return f"{100 * value:.1f} %" if key in ("parse", "shape", "exact", "invented") else f"{value:.2f}"


def table(results: dict[str, dict[str, dict]]) -> str:
    """results[model][set][family] -> one block per set, models side by side."""
    models = list(results)
    width = max(22, *(len(m) + 2 for m in models))
    lines = []
    for set_name in next(iter(results.values())):
        lines.append(f"== {set_name} ({results[models[0]][set_name]['all']['n']} requests)")
        lines.append("metric".ljust(26) + "".join(m.rjust(width) for m in models))
        for key, title in ROWS:
            lines.append(
                title.ljust(26) + "".join(_cell(key, results[m][set_name]["all"][key]).rjust(width) for m in models)
            )
        families = sorted({f for m in models for f in results[m][set_name] if f != "all"})
        for family in families:
            lines.append(
                f"exact: {family}".ljust(26)
                + "".join(
                    _cell("exact", results[m][set_name].get(family, {}).get("exact", 0)).rjust(width) for m in models
                )
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="checkpoint folders (or hub ids)")
    parser.add_argument("--sets", default=",".join(SETS), help=f"names ({', '.join(SETS)}) or paths, comma-separated")
    parser.add_argument("--limit", type=int, default=0, help="cases per set (0 = all)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("--no-grammar", action="store_true")
    parser.add_argument("--copy-names", action="store_true", help="hold the plan's names to spans of the request")
    parser.add_argument("--temperature", type=float, default=SamplingSettings.temperature)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--candidates", type=int, default=1, help="sample this many per request and score the pipeline's top-ranked one"
    )
    args = parser.parse_args(argv)
    sets = {name: SETS.get(name, Path(name)) for name in args.sets.split(",") if name}
    cases = {name: read_cases(path)[: args.limit or None] for name, path in sets.items()}
    results: dict[str, dict] = {}
    for model in args.models:
        sampling = SamplingSettings(
            temperature=args.temperature, grammar=not args.no_grammar, copy_names=args.copy_names
        )
        generator = LocalGenerator(GeneratorSettings(model=model, sampling=sampling))
        results[model] = {
            name: evaluate_model(generator, rows, args.seed, args.candidates) for name, rows in cases.items()
        }
    print(table(results))
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {"sets": {n: str(p) for n, p in sets.items()}, "candidates": args.candidates, "results": results},
                indent=1,
                ensure_ascii=False,
            )
        )


if __name__ == "__main__":
    main()
