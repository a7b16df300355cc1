"""The pipeline's pick of 16 on the hand-written sets: right, distinct, varied, and how fast.

    python bench/open_vocab.py                                  # the embedded model on hand-en
    python bench/open_vocab.py --sets hand-en,hand-ko --baseline models/tiny-sft   # planner + drawer vs drawer alone
    python bench/open_vocab.py --sample 32 --decoders hf,loop   # before/after of the decoding loop
    python bench/open_vocab.py --sample 10 --candidates 4 --url http://127.0.0.1:8000   # through a server

For every request, `ml.pipeline.run` with 16 candidates (what `diagrambot generate` does, model
already loaded) and the wall time of that call. Per set: exact structure and labels of rank 1,
the invented-label rate, the parse rate of all candidates, the median and p95 seconds (whole
request and generation alone), whether the top 3 are 3 distinct diagrams whenever 3 distinct
exist, and the number of distinct styles (fills, shapes, line styles) among the 16.

A baseline model, when given, runs the same requests with the same seeds in the same run; so does
each `--unplanned` value after the first (candidates the drawer draws without the plan).
`--decoders hf,loop` runs every request with each decoder in turn (`[generator.sampling] decoder`:
transformers' generate, then LocalGenerator's loop), same model, same seeds, so that machine
noise falls on both alike, and reports how many candidates came out the same. `--sample N` takes
N requests evenly spaced through each set (hand-en lists its 32 dense requests first, then 14
CNNs and 46 flowcharts), `--limit N` the first N. `--url` sends the requests to an OpenAI-compatible
server instead (the openai backend, `--server transformers` for `transformers serve`, which applies
no grammar: its parse rate is the figure to watch; docs/serving.md). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import time
import typing

from _common import emit, pick

CANDIDATES = 16


def style(diagram) -> tuple:
    """What a user sees as a diagram's style: its fills, shapes and line styles."""
    return (
        tuple(sorted({n.fill for n in diagram.nodes})),
        tuple(sorted({n.shape for n in diagram.nodes})),
        tuple(sorted({n.line_style for n in diagram.nodes if n.targets})),
    )


class Tally:
    """One model and decoder's figures over a set."""

    def __init__(self):
        self.seconds, self.generate_seconds, self.styles = [], [], []
        self.exact = self.top3_ok = self.top3_cases = self.invented = self.words = 0
        self.parsed = self.candidates = 0
        self.texts: list[list[str]] = []
        self.failures: dict[str, int] = {}

    def add(self, case, result, seconds: float) -> None:
        from ml.parser import serialize
        from training.evaluate import invented_words
        from training.structure import failure

        self.seconds.append(seconds)
        self.generate_seconds.append(result.timings["generate_s"])
        parsed = result.parsed
        self.parsed += len(parsed)
        self.candidates += len(result.candidates)
        self.texts.append(sorted(c.text for c in result.candidates))
        if parsed:
            best = parsed[0].diagram
            why = failure(best, case.family, case.spec)
            self.exact += why is None
            if why:
                self.failures[why] = self.failures.get(why, 0) + 1
        else:
            self.failures["unparsed"] = self.failures.get("unparsed", 0) + 1
            made_up, total = invented_words(case.request, best)
            self.invented, self.words = self.invented + made_up, self.words + total
        distinct = {serialize(c.diagram) for c in parsed}
        if len(distinct) >= 3:
            self.top3_cases += 1
            self.top3_ok += len({serialize(c.diagram) for c in parsed[:3]}) == 3
        self.styles.append(len({style(c.diagram) for c in parsed}))

    def figures(self) -> dict:
        n = len(self.seconds)

        def p95(values):
            ordered = sorted(values)
            return round(ordered[min(n - 1, int(0.95 * n))], 2)

        return {
            "n": n,
            "exact": round(self.exact / max(n, 1), 4),
            "invented": round(self.invented / max(self.words, 1), 4),
            "parse": round(self.parsed / max(self.candidates, 1), 4),
            "median_s": round(statistics.median(self.seconds), 2),
            "p95_s": p95(self.seconds),
            "generate_median_s": round(statistics.median(self.generate_seconds), 2),
            "generate_p95_s": p95(self.generate_seconds),
            "top3_distinct_when_possible": f"{self.top3_ok}/{self.top3_cases}",
            "styles_median": statistics.median(self.styles),
            "styles_min": min(self.styles),
            "failures": dict(sorted(self.failures.items())),
        }


def measure(model: str, planner: str, cases, decoders: list[str], args, unplanned: int = 0) -> dict[str, Tally]:
    """Every case with each decoder in turn (one loaded model), the same seed for all."""
    from ml.generator import (
        Generator,
        GeneratorSettings,
        LocalGenerator,
        OpenAIGenerator,
        SamplingSettings,
        make_generator,
    )
    from ml.pipeline import run

    generator: Generator
    if args.url:
        generator = OpenAIGenerator(
            GeneratorSettings(backend="openai", model=model, url=args.url, server=args.server, timeout_s=3600)
        )
    else:
        generator = make_generator(
            GeneratorSettings(
                model=model, threads=args.threads, planner=planner, sampling=SamplingSettings(unplanned=unplanned)
            )
        )
    generator.generate("two nodes", 2, seed=0)  # warm-up
    tallies = {decoder: Tally() for decoder in decoders}
    for i, case in enumerate(cases):
        for decoder in decoders:
            if not isinstance(generator, OpenAIGenerator):
                typing.cast(LocalGenerator, generator).settings.sampling.decoder = decoder
            start = time.perf_counter()
            result = run(case.request, generator, args.candidates, seed=i)
            tallies[decoder].add(case, result, time.perf_counter() - start)
    return tallies


def main() -> None:
    from training.evaluate import SETS, read_cases

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/tiny-sft")
    parser.add_argument("--planner", default=None, help="the planner model (default: the shipped one; '' for none)")
    parser.add_argument(
        "--baseline", default=None, help="another drawer, run without a planner on the same requests (the before)"
    )
    parser.add_argument("--sets", default="hand-en")
    parser.add_argument("--limit", type=int, default=0, help="the first N requests per set (0 = all)")
    parser.add_argument("--sample", type=int, default=0, help="N requests per set, evenly spaced (0 = see --limit)")
    parser.add_argument("--decoders", default="loop", help="comma-separated: loop, hf (each runs every request)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--candidates", type=int, default=CANDIDATES)
    parser.add_argument(
        "--unplanned",
        default="0",
        help="comma-separated: candidates drawn without the plan (each value runs every request)",
    )
    parser.add_argument("--url", default=None, help="an OpenAI-compatible server's base URL (the openai backend)")
    parser.add_argument(
        "--server",
        default="transformers",
        choices=["transformers", "vllm"],
        help="what serves --url (--model: the name it serves the model by)",
    )
    args = parser.parse_args()
    decoders = ["server"] if args.url else [d for d in args.decoders.split(",") if d]
    from ml.paths import EMBEDDED_PLANNER

    planner = str(EMBEDDED_PLANNER) if args.planner is None else args.planner
    figures = {
        "bench": "open_vocab",
        "candidates": args.candidates,
        "threads": args.threads,
        **({"url": args.url, "server": args.server} if args.url else {}),
    }
    for name in args.sets.split(","):
        cases = pick(read_cases(SETS[name]), args.limit, args.sample)
        free = [int(k) for k in args.unplanned.split(",")]
        models = {(name if k == free[0] else f"{name}_unplanned{k}"): (args.model, planner, k) for k in free} | (
            {f"{name}_baseline": (args.baseline, "", 0)} if args.baseline else {}
        )
        for key, (model, model_planner, unplanned) in models.items():
            tallies = measure(model, model_planner, cases, decoders, args, unplanned)
            for decoder, tally in tallies.items():
                label = key if len(decoders) == 1 else f"{key}_{decoder}"
                figures[label] = {"decoder": decoder, **tally.figures()}
                print(label, figures[label])
            if len(decoders) > 1:
                first, *others = tallies.values()
                for decoder, tally in zip(decoders[1:], others):
                    same = sum(a == b for a, b in zip(first.texts, tally.texts))
                    figures[f"{key}_{decoder}"][f"requests_with_the_same_candidates_as_{decoders[0]}"] = (
                        f"{same}/{len(cases)}"
                    )
                    figures[f"{key}_{decoder}"][f"speedup_median_over_{decoders[0]}"] = round(
                        statistics.median(first.seconds) / statistics.median(tally.seconds), 2
                    )
    emit(figures)


if __name__ == "__main__":
    main()
