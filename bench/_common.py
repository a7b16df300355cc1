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


def median_seconds(func, repeats: int) -> float:
    """Median wall time of `repeats` calls of func()."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def emit(figures: dict) -> None:
    """The bench convention: the last printed line is one JSON object with the figures."""
    print(json.dumps(figures, sort_keys=True))
