"""Helpers every bench shares: repeat a timing, report medians, print the final JSON line."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

# Benches run as plain scripts from the repo root; make the project importable without install.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class PoolGenerator:
    """A generator backend that replays one request's sampled texts, so `ml.pipeline.run` ranks exactly those."""

    name = "pool"

    def __init__(self, texts: list[str]):
        self.texts = texts

    def generate(self, request: str, n: int, seed: int | None = None) -> list[str]:
        return self.texts[:n]


def median_seconds(func, repeats: int) -> float:
    """Median wall time of `repeats` calls of func()."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pick(cases: list, limit: int, sample: int) -> list:
    """The first `limit` cases, or `sample` cases evenly spaced through the set (0: all)."""
    if sample and sample < len(cases):
        return [cases[i * len(cases) // sample] for i in range(sample)]
    return cases[: limit or None]


def emit(figures: dict) -> None:
    """The bench convention: the last printed line is one JSON object with the figures."""
    print(json.dumps(figures, sort_keys=True))
