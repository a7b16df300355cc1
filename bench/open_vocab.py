"""The pipeline's pick of 16 on the hand-written sets: right, distinct, varied, and how fast.

    python bench/open_vocab.py                                  # the embedded model on hand-en
    python bench/open_vocab.py --sets hand-en,hand-ko --baseline runs/tiny-v12

For every request, `ml.pipeline.run` with 16 candidates (what `diagrambot generate` does, model
already loaded) and the wall time of that call. Per set: exact structure and labels of rank 1,
the invented-label rate, the median and p95 seconds, whether the top 3 are 3 distinct diagrams
whenever 3 distinct exist, and the number of distinct styles (fills, shapes, line styles) among
the 16. A baseline model, when given, runs the same requests with the same seeds in the same run.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import emit

CANDIDATES = 16


def style(diagram) -> tuple:
    """What a user sees as a diagram's style: its fills, shapes and line styles."""
    return (tuple(sorted({n.fill for n in diagram.nodes})), tuple(sorted({n.shape for n in diagram.nodes})),
            tuple(sorted({n.line_style for n in diagram.nodes if n.targets})))


def measure(model: str, cases, limit: int) -> dict:
    from ml.generator import GeneratorSettings, LocalGenerator
    from ml.parser import serialize
    from ml.pipeline import run
    from training.evaluate import invented_words
    from training.structure import structure_ok
    generator = LocalGenerator(GeneratorSettings(model=model))
    generator.generate("two nodes", 2, seed=0)  # warm-up
    seconds, exact, styles, top3_ok, top3_cases, invented, words = [], 0, [], 0, 0, 0, 0
    for i, case in enumerate(cases[:limit or None]):
        start = time.perf_counter()
        result = run(case.request, generator, CANDIDATES, seed=i)
        seconds.append(time.perf_counter() - start)
        parsed = result.parsed
        if parsed:
            best = parsed[0].diagram
            exact += structure_ok(best, case.family, case.spec)
            made_up, total = invented_words(case.request, best)
            invented, words = invented + made_up, words + total
        distinct = {serialize(c.diagram) for c in parsed}
        if len(distinct) >= 3:
            top3_cases += 1
            top3_ok += len({serialize(c.diagram) for c in parsed[:3]}) == 3
        styles.append(len({style(c.diagram) for c in parsed}))
    n = len(seconds)
    ordered = sorted(seconds)
    return {"n": n, "exact": round(exact / max(n, 1), 4), "invented": round(invented / max(words, 1), 4),
            "median_s": round(statistics.median(seconds), 2),
            "p95_s": round(ordered[min(n - 1, int(0.95 * n))], 2),
            "top3_distinct_when_possible": f"{top3_ok}/{top3_cases}",
            "styles_median": statistics.median(styles), "styles_min": min(styles)}


def main() -> None:
    from training.evaluate import SETS, read_cases
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/tiny-sft")
    parser.add_argument("--baseline", default=None, help="another model folder, run on the same requests")
    parser.add_argument("--sets", default="hand-en")
    parser.add_argument("--limit", type=int, default=0, help="requests per set (0 = all)")
    args = parser.parse_args()
    figures = {"bench": "open_vocab", "candidates": CANDIDATES}
    for name in args.sets.split(","):
        cases = read_cases(SETS[name])
        figures[name] = measure(args.model, cases, args.limit)
        if args.baseline:
            figures[f"{name}_baseline"] = measure(args.baseline, cases, args.limit)
        print(name, figures[name], figures.get(f"{name}_baseline"))
    emit(figures)


if __name__ == "__main__":
    main()
