"""bench/taste.py: what a simulated user sees in a diagram, and the gap-closed figure it reports."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ml.diagram import Diagram
from ml.pipeline import Candidate
from training.layouts import Palette, dense_network

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.append(str(BENCH))  # appended: bench/storage.py must not shadow the storage package
_spec = importlib.util.spec_from_file_location("bench_taste", BENCH / "taste.py")
taste = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(taste)

WARM = Palette((255, 170, 120), (255, 205, 160), (250, 150, 100))


def test_attributes_are_what_a_user_sees():
    plain = taste.attributes(dense_network([3, 4, 2]))
    assert plain["lines"] == "solid arrow" and plain["shape"] == "circle" and plain["labels"] == "bare"
    assert plain["orientation"] == "horizontal" and plain["size"] == "medium"
    dashed = dense_network([3, 4, 2], WARM, "dashed line")
    assert taste.attributes(dashed)["lines"] == "dashed line" and taste.attributes(dashed)["warmth"] == 1.0
    assert taste.attributes(dashed)["palette"] != plain["palette"]
    small = Diagram(tuple(replace(n, width=30, height=30) for n in dashed.nodes))
    assert taste.attributes(small)["size"] == "small"


def test_a_users_taste_does_not_depend_on_the_order_they_see_things():
    first, second = taste.attributes(dense_network([3, 4, 2])), taste.attributes(dense_network([3, 4, 2], WARM))
    a, b = taste.User(7), taste.User(7)
    in_order = (a.utility(first), a.utility(second))
    reversed_order = (b.utility(second), b.utility(first))
    assert in_order == reversed_order[::-1]
    assert taste.User(8).utility(first) != in_order[0]


def test_the_tier_holds_only_the_candidates_as_right_as_rank_one():
    def candidate(grounding, agreement):
        return Candidate("", dense_network([2, 2]), scores={"grounding": grounding, "agreement": agreement})

    ranked = [candidate(1.0, 0.5), candidate(1.0, 0.5), candidate(1.0, 0.25), candidate(0.9, 0.5)]
    assert [id(c) for c in taste.tier(ranked)] == [id(c) for c in ranked[:2]]


def test_gap_closed_is_the_share_of_the_way_from_without_to_best():
    rows = {b: [(4.0, 3.0, 5.0, "dense"), (3.0, 3.0, 3.0, "cnn")] for b in taste.BUDGETS}
    figures = taste.summarise([{"budgets": rows}])
    assert figures[20]["with"] == 3.5 and figures[20]["without"] == 3.0 and figures[20]["best"] == 4.0
    assert figures[20]["gap_closed"] == pytest.approx(0.5)
    assert figures[20]["dense"] == [4.0, 3.0, 5.0, 0.5] and figures[20]["cnn"] == [3.0, 3.0, 3.0, None]
