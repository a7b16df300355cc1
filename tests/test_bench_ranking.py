"""bench/ranking.py: the first-sample, pick and oracle shares it reports, on hand-made pools."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from training.layouts import dense_network
from training.synthetic import PALETTES, answer_text

BENCH = Path(__file__).resolve().parent.parent / "bench"
# Appended, not prepended: bench/storage.py must not shadow the storage package.
sys.path.append(str(BENCH))
_spec = importlib.util.spec_from_file_location("bench_ranking", BENCH / "ranking.py")
ranking = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ranking)
PoolGenerator, measure = ranking.PoolGenerator, ranking.measure

REQUEST = "an MLP with 2 inputs, 3 hidden nodes and 1 output"


def _dense_text(layers: list[int]) -> str:
    return answer_text("dense", {"layers": layers}, dense_network(layers, PALETTES[0], "solid arrow"))


def _row(texts: list[str]) -> dict:
    return {"request": REQUEST, "family": "dense", "spec": {"layers": [2, 3, 1]}, "texts": texts}


def test_each_count_sees_only_the_first_n_samples():
    pool = [_row([_dense_text([2, 4, 1]), "not a node list", _dense_text([2, 3, 1])])]
    figures = measure(pool, [1, 2, 3])
    assert figures["1:all"] == {"first": 0.0, "pick": 0.0, "oracle": 0.0}
    assert figures["2:all"] == {"first": 0.0, "pick": 0.0, "oracle": 0.0}
    assert figures["3:all"] == {"first": 0.0, "pick": 1.0, "oracle": 1.0}
    assert figures["3:dense"] == figures["3:all"]


def test_shares_are_over_requests_and_a_pool_with_no_right_answer_scores_zero():
    pool = [
        _row([_dense_text([2, 3, 1]), _dense_text([2, 4, 1])]),
        _row([_dense_text([2, 5, 1]), _dense_text([2, 4, 1])]),
    ]
    figures = measure(pool, [2])
    assert figures["2:all"] == {"first": 0.5, "pick": 0.5, "oracle": 0.5}


def test_pool_generator_replays_the_first_n_texts():
    assert PoolGenerator(["a", "b", "c"]).generate("any request", 2, seed=5) == ["a", "b"]
