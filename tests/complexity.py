"""How a cost grows, measured inside one test run: no wall-clock thresholds.

A test that wants "linear, not quadratic" times the same work on an input and on one `k` times
larger, and asserts on the ratio: about k when the work is linear, k squared when it is quadratic.
Both sides are measured in the same run, alternately, as this process's CPU time (time spent by
other processes on a busy machine does not count), best of a few tries; so the ratio does not
depend on how fast or how loaded the machine is. Absolute figures belong in bench/.
"""

from __future__ import annotations

import time
from collections.abc import Callable

GROWTH_MARGIN = 3.0  # a linear cost may grow up to 3x more than the input before a test calls it worse


def cpu_seconds(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def growth(small: Callable[[], object], large: Callable[[], object], tries: int = 3) -> float:
    """cost(large) / cost(small), each the best of `tries`, measured alternately."""
    best_small = best_large = float("inf")
    for _ in range(tries):
        best_small = min(best_small, cpu_seconds(small))
        best_large = min(best_large, cpu_seconds(large))
    return best_large / max(best_small, 1e-6)


def assert_linear(small: Callable[[], object], large: Callable[[], object], factor: float, tries: int = 3) -> None:
    """The large input is `factor` times the small one: its cost must grow less than
    GROWTH_MARGIN x factor (quadratic work grows factor x factor)."""
    ratio = growth(small, large, tries)
    assert ratio < GROWTH_MARGIN * factor, f"{factor:g}x the input cost {ratio:.1f}x the time: worse than linear"
