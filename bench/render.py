"""Parse + render + score of a 25-node diagram on one core; target >= 100 diagrams/s.

Baseline in the same run: the same work with 4x supersampling instead of the default 2x, and
the seed's approach (render only, no scoring) for scale. Quotes medians over rounds.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from _common import emit, median_seconds  # noqa: E402

from ml.parser import parse, serialize  # noqa: E402
from ml.readability import readability  # noqa: E402
from ml.render import render  # noqa: E402
from training.layouts import Layer, Step, dense_network, flowchart, layer_boxes  # noqa: E402


def diagrams_25() -> dict[str, str]:
    """Three 25-node diagrams, one per family, as model text."""
    dense = dense_network([4, 8, 8, 5])
    boxes = layer_boxes([Layer(f"Conv {i}", 2 ** (i % 10) * 100) for i in range(25)])
    steps = [
        Step(f"Step {i}", ["data", "process", "function", "model"][i % 4], (i + 1,) if i < 24 else ())
        for i in range(25)
    ]
    return {"dense": serialize(dense), "layers": serialize(boxes), "flowchart": serialize(flowchart(steps))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=40)
    args = parser.parse_args()
    texts = diagrams_25()

    def pipeline(supersample: int) -> None:
        for _ in range(args.per_round):
            for text in texts.values():
                diagram = parse(text).diagram
                render(diagram, supersample=supersample)
                readability(diagram)

    count = args.per_round * len(texts)
    default = median_seconds(lambda: pipeline(2), args.rounds)
    heavy = median_seconds(lambda: pipeline(4), args.rounds)
    figures = {
        "bench": "render",
        "nodes": 25,
        "diagrams_per_s": round(count / default, 1),
        "ms_per_diagram": round(1000 * default / count, 2),
        "baseline_supersample4_diagrams_per_s": round(count / heavy, 1),
        "speedup_vs_supersample4": round(heavy / default, 2),
        "target_diagrams_per_s": 100,
        "meets_target": count / default >= 100,
    }
    print(f"parse+render+score, 25 nodes: {figures['diagrams_per_s']} diagrams/s (median of {args.rounds} rounds)")
    emit(figures)


if __name__ == "__main__":
    main()
