"""Analytic readability on hand-built cases: each pair of diagrams differs in one aspect."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

import ml.readability
from ml.diagram import Diagram, Node
from ml.parser import MAX_EDGES, MAX_NODES, parse
from ml.readability import WEIGHTS, Readability, combine, readability

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.txt"))
WHITE, DARK = (255, 255, 255), (40, 40, 40)


def node(
    nid, x, y, shape="rectangle", w=100, h=60, style="solid arrow", fill=WHITE, line=DARK, targets=(), label=None
) -> Node:
    return Node(nid, x, y, shape, w, h, style, fill, line, tuple(targets), label)


def worse(bad: Diagram, good: Diagram, metric: str) -> tuple[Readability, Readability]:
    """Assert that `bad` scores below `good` on `metric` and on the combined score."""
    rb, rg = readability(bad), readability(good)
    assert rb.metrics[metric] < rg.metrics[metric], (rb.metrics, rg.metrics)
    assert rb.score < rg.score, (rb.score, rg.score)
    return rb, rg


def test_overlapping_nodes_score_below_the_same_nodes_apart():
    bad = Diagram((node(1, 400, 300), node(2, 450, 300)))
    good = Diagram((node(1, 400, 300), node(2, 600, 300)))
    rb, rg = worse(bad, good, "node_overlap")
    assert rb.metrics["node_overlap"] == pytest.approx(0.5)  # half of each box is shared
    assert rg.metrics["node_overlap"] == 1.0


def test_identical_nodes_overlap_completely():
    r = readability(Diagram((node(1, 400, 300), node(2, 400, 300))))
    assert r.metrics["node_overlap"] == 0.0
    assert r.score < 1.5


def test_node_half_off_canvas_scores_below_one_inside():
    bad = Diagram((node(1, 0, 300),))
    good = Diagram((node(1, 300, 300),))
    rb, rg = worse(bad, good, "inside_canvas")
    assert rb.metrics["inside_canvas"] == pytest.approx(0.5)
    assert rg.metrics["inside_canvas"] == 1.0


def test_node_entirely_off_canvas_scores_zero_inside():
    r = readability(Diagram((node(1, 1500, 300),)))
    assert r.metrics["inside_canvas"] == 0.0


def test_edge_through_a_third_node_scores_below_one_around_it():
    bad = Diagram(
        (node(1, 100, 300, "circle", 50, 50, targets=[2]), node(2, 900, 300, "circle", 50, 50), node(3, 500, 300))
    )
    good = Diagram(
        (node(1, 100, 300, "circle", 50, 50, targets=[2]), node(2, 900, 300, "circle", 50, 50), node(3, 500, 450))
    )
    rb, rg = worse(bad, good, "edge_clearance")
    assert rb.metrics["edge_clearance"] == 0.0
    assert rg.metrics["edge_clearance"] == 1.0


def test_edge_between_neighbours_is_clear():
    # The edge's own endpoints never count as obstacles.
    d = Diagram((node(1, 300, 300, targets=[2]), node(2, 500, 300)))
    assert readability(d).metrics["edge_clearance"] == 1.0


CORNERS = {1: (200, 150), 2: (800, 150), 3: (200, 450), 4: (800, 450)}


def _four(edges: dict[int, int]) -> Diagram:
    return Diagram(
        tuple(
            node(i, x, y, "circle", 40, 40, targets=[edges[i]] if i in edges else []) for i, (x, y) in CORNERS.items()
        )
    )


def test_crossing_edges_score_below_parallel_ones():
    bad = _four({1: 4, 2: 3})  # an X
    good = _four({1: 2, 3: 4})  # two horizontal edges
    rb, rg = worse(bad, good, "edge_crossings")
    assert rb.metrics["edge_crossings"] == 0.0
    assert rg.metrics["edge_crossings"] == 1.0


def test_edge_crossings_is_one_minus_c_over_c_max():
    # Three edges without shared ends: c_max = 3 pairs; one of them crosses.
    d = Diagram(
        (
            node(1, 100, 100, "circle", 20, 20, targets=[2]),
            node(2, 300, 300, "circle", 20, 20),
            node(3, 100, 300, "circle", 20, 20, targets=[4]),
            node(4, 300, 100, "circle", 20, 20),
            node(5, 600, 100, "circle", 20, 20, targets=[6]),
            node(6, 900, 100, "circle", 20, 20),
        )
    )
    assert readability(d).metrics["edge_crossings"] == pytest.approx(2 / 3)


def test_edges_sharing_a_node_do_not_count_as_crossing():
    d = _four({1: 4, 2: 4, 3: 4})
    assert readability(d).metrics["edge_crossings"] == 1.0


def test_close_nodes_score_below_well_spaced_ones():
    bad = Diagram((node(1, 400, 300), node(2, 505, 300)))  # 5 px gap
    good = Diagram((node(1, 400, 300), node(2, 560, 300)))  # 60 px gap
    rb, rg = worse(bad, good, "spacing")
    assert rb.metrics["spacing"] == pytest.approx(5 / 20)
    assert rg.metrics["spacing"] == 1.0
    assert rb.metrics["node_overlap"] == rg.metrics["node_overlap"] == 1.0


def test_light_grey_on_white_scores_below_dark():
    grey_fill, grey_line = (240, 240, 240), (225, 225, 225)
    bad = Diagram(
        (
            node(1, 300, 300, fill=grey_fill, line=grey_line, targets=[2]),
            node(2, 700, 300, fill=grey_fill, line=grey_line),
        )
    )
    good = Diagram(
        (node(1, 300, 300, fill=grey_fill, line=DARK, targets=[2]), node(2, 700, 300, fill=grey_fill, line=DARK))
    )
    rb, rg = worse(bad, good, "contrast")
    assert rb.metrics["contrast"] < 0.2
    assert rg.metrics["contrast"] == 1.0


def test_white_on_white_has_no_contrast():
    d = Diagram((node(1, 300, 300, fill=WHITE, line=WHITE),))
    assert readability(d).metrics["contrast"] == 0.0


def test_long_label_in_tiny_node_scores_below_same_label_in_big_node():
    label = "Convolution 3x3 with 64 filters"
    bad = Diagram((node(1, 500, 300, w=40, h=20, label=label),))
    good = Diagram((node(1, 500, 300, w=320, h=80, label=label),))
    rb, rg = worse(bad, good, "labels")
    assert rg.metrics["labels"] == 1.0


@pytest.mark.parametrize("fill", [(128, 128, 128), (20, 20, 90), (255, 255, 200)])
def test_label_text_colour_is_chosen_for_the_fill(fill):
    # Black or white text, whichever reads better: a fitting label scores fully on any fill.
    d = Diagram((node(1, 500, 300, w=200, h=60, fill=fill, label="Dense 128"),))
    assert readability(d).metrics["labels"] == 1.0


def test_truncated_label_scores_at_most_half():
    d = Diagram((node(1, 500, 300, w=30, h=20, label="An extremely long label that cannot fit"),))
    assert readability(d).metrics["labels"] <= 0.5


def test_labels_metric_absent_without_labels():
    r = readability(Diagram((node(1, 500, 300),)))
    assert "labels" not in r.metrics
    assert "labels" in readability(Diagram((node(1, 500, 300, label="x"),))).metrics


GRID = [(200, 150), (500, 150), (800, 150), (200, 450), (500, 450), (800, 450)]
SCATTERED = [(170, 120), (430, 210), (820, 140), (260, 470), (560, 380), (760, 520)]


def test_scattered_nodes_score_below_an_aligned_grid():
    bad = Diagram(tuple(node(i, x, y) for i, (x, y) in enumerate(SCATTERED, 1)))
    good = Diagram(tuple(node(i, x, y) for i, (x, y) in enumerate(GRID, 1)))
    rb, rg = worse(bad, good, "alignment")
    assert rb.metrics["alignment"] == 0.0
    assert rg.metrics["alignment"] == 1.0
    for metric in ("node_overlap", "inside_canvas", "spacing"):
        assert rb.metrics[metric] == rg.metrics[metric] == 1.0


SYMMETRIC = [(200, 300), (500, 200), (500, 400), (800, 300)]
LOPSIDED = [(200, 300), (300, 200), (300, 450), (800, 300)]


def test_lopsided_layout_scores_below_a_symmetric_one():
    bad = Diagram(tuple(node(i, x, y) for i, (x, y) in enumerate(LOPSIDED, 1)))
    good = Diagram(tuple(node(i, x, y) for i, (x, y) in enumerate(SYMMETRIC, 1)))
    rb, rg = worse(bad, good, "symmetry")
    assert rg.metrics["symmetry"] == 1.0
    assert rb.metrics["symmetry"] <= 0.5
    # Only symmetry differs.
    for metric in rb.metrics:
        if metric != "symmetry":
            assert rb.metrics[metric] == rg.metrics[metric], metric


def test_empty_diagram_scores_zero():
    r = readability(Diagram())
    assert r.score == 0.0
    assert all(0 <= v <= 1 for v in r.metrics.values())


def test_clean_diagram_scores_five():
    d = Diagram((node(1, 300, 300, targets=[2]), node(2, 700, 300)))
    r = readability(d)
    assert all(v == 1.0 for v in r.metrics.values()), r.metrics
    assert r.score == pytest.approx(5.0)


def test_score_and_metrics_within_bounds_on_hand_built_cases():
    cases = [
        Diagram((node(1, 400, 300), node(2, 400, 300))),
        Diagram((node(1, -5000, 9000, w=1, h=1),)),
        _four({1: 4, 2: 3}),
        Diagram(tuple(node(i, 500, 300, fill=WHITE, line=WHITE) for i in range(1, 30))),
    ]
    for d in cases:
        r = readability(d)
        assert 0 <= r.score <= 5
        assert all(0 <= v <= 1 for v in r.metrics.values()), r.metrics


def test_every_metric_is_reported():
    r = readability(Diagram((node(1, 300, 300, label="a"),)))
    assert set(r.metrics) == set(WEIGHTS)
    d = r.as_dict()
    assert set(d) == {"score", "metrics"} and set(d["metrics"]) == set(WEIGHTS)


def test_combine_is_a_weighted_geometric_mean_on_0_to_5():
    ones = {k: 1.0 for k in WEIGHTS}
    assert combine(ones) == pytest.approx(5.0)
    half = {k: 0.5 for k in WEIGHTS}
    assert combine(half) == pytest.approx(2.5)
    # A failed essential pulls the score down far more than a failed minor metric.
    assert combine({**ones, "node_overlap": 0.0}) < combine({**ones, "symmetry": 0.0})


def test_two_half_overlapping_boxes_score_by_hand():
    # Every metric is 1 but node_overlap (half of each box shared: 0.5) and spacing (no gap: 0, counted as
    # the floor 0.02). Weights without labels sum to 13.5, so the score is
    # 5 * 0.5 ** (3 / 13.5) * 0.02 ** (1.5 / 13.5) = 5 * 0.8572 * 0.6475 = 2.775.
    r = readability(Diagram((node(1, 400, 300), node(2, 450, 300))))
    assert r.metrics == {
        "node_overlap": 0.5,
        "inside_canvas": 1.0,
        "edge_clearance": 1.0,
        "spacing": 0.0,
        "contrast": 1.0,
        "edge_crossings": 1.0,
        "alignment": 1.0,
        "symmetry": 1.0,
    }
    assert r.score == pytest.approx(2.775, abs=5e-4)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_score_at_least_4_5(path):
    r = readability(parse(path.read_text(encoding="utf-8")).diagram)
    assert r.score >= 4.5, r.metrics


# ---------------------------------------------------------------- cost


def _ring(nodes: int, targets_per_node: int) -> Diagram:
    """Nodes scattered over the canvas, each pointing at the next few (wrapping round)."""
    return Diagram(
        tuple(
            node(
                i,
                40 + i * 37 % 920,
                40 + i * 53 % 520,
                "circle",
                20,
                20,
                targets=[(i + k) % nodes for k in range(1, targets_per_node + 1)],
            )
            for i in range(nodes)
        )
    )


def _cost(d: Diagram) -> tuple[Readability, float]:
    """The readability and the peak of memory allocated meanwhile (MB); time is for bench/ (fuzz.py)."""
    tracemalloc.start()
    try:
        r = readability(d)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    return r, peak


def test_a_diagram_at_the_parser_bounds_scores_in_little_memory():
    # Edge pairs used to be compared in whole edges x edges tables: 190 MB (and about 3 s) here;
    # in blocks, about 5 MB (and 0.2 s).
    d = _ring(MAX_NODES, MAX_EDGES // MAX_NODES)
    assert len(list(d.edges())) == MAX_EDGES
    r, peak = _cost(d)
    assert peak < 64, peak
    assert 0 <= r.score <= 5


def test_a_denser_diagram_than_the_parser_allows_scores_in_little_memory():
    # Stored diagrams are rebuilt without the parser: 60 nodes all pointing at each other, 3540 edges
    # (600 MB before blocks).
    r, peak = _cost(_ring(60, 59))
    assert peak < 64, peak
    assert r.metrics["edge_crossings"] < 1


# Three horizontal edges across three vertical ones: 9 crossings among 15 pairs with no shared end.
LATTICE = Diagram(
    tuple(
        [node(10 + k, 100, 150 + 100 * k, "circle", 20, 20, targets=[20 + k]) for k in range(3)]
        + [node(20 + k, 900, 150 + 100 * k, "circle", 20, 20) for k in range(3)]
        + [node(30 + k, 300 + 200 * k, 50, "circle", 20, 20, targets=[40 + k]) for k in range(3)]
        + [node(40 + k, 300 + 200 * k, 550, "circle", 20, 20) for k in range(3)]
    )
)
# Two boxes sharing half their width (3000 of 24000 px2), one apart in the same row, one off every row
# and column; mirrored about x = 600 the centres land 0, 50, 0 and 40 px from a centre.
FOUR = Diagram((node(1, 400, 300), node(2, 450, 300), node(3, 800, 300), node(4, 620, 520)))


@pytest.mark.parametrize("cells", [1, 5, ml.readability.CHUNK_CELLS])
def test_pairwise_metrics_by_hand_in_any_block_size(monkeypatch, cells):
    monkeypatch.setattr(ml.readability, "CHUNK_CELLS", cells)
    lattice = readability(LATTICE).metrics
    assert lattice["edge_crossings"] == pytest.approx(1 - 9 / 15)
    assert lattice["edge_clearance"] == 1.0
    four = readability(FOUR).metrics
    assert four["node_overlap"] == pytest.approx(1 - 2 * 3000 / 24000)
    assert four["spacing"] == pytest.approx((0 + 0 + 1 + 1) / 4)
    assert four["alignment"] == pytest.approx(3 / 4)
    assert four["symmetry"] == pytest.approx((1 + 0 + 1 + (1 - 40 / 50)) / 4)
