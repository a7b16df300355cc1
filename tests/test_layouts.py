"""Reference layouts: structure, placement and readability of the three diagram families."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ml.diagram import CANVAS_HEIGHT, CANVAS_WIDTH, LINE_STYLES, SHAPES, Diagram
from ml.parser import parse, serialize
from ml.readability import readability
from training.layouts import DATA_TYPES, NODE_TYPES, PALETTES, Layer, Step, dense_network, flowchart, layer_boxes


def assert_valid(d: Diagram) -> None:
    ids = [n.id for n in d.nodes]
    assert len(ids) == len(set(ids))
    for n in d.nodes:
        assert n.shape in SHAPES and n.line_style in LINE_STYLES
        assert set(n.targets) <= set(ids) and n.id not in n.targets
        assert all(0 <= c <= 255 for c in n.fill + n.line_colour)
    # The layout survives its own text form unchanged.
    assert parse(serialize(d)).diagram == d


def inside(d: Diagram) -> bool:
    return all(
        0 <= l and 0 <= t and r <= CANVAS_WIDTH and b <= CANVAS_HEIGHT for l, t, r, b in (n.bbox for n in d.nodes)
    )


# ---------------------------------------------------------------- dense network

LAYER_CONFIGS = [[2, 3, 1], [4, 8, 8, 2], [10, 12, 3], [1, 1], [3, 5, 5, 5, 2], [6, 6, 6, 6, 6, 6], [2] * 10]


@pytest.mark.parametrize("layers", LAYER_CONFIGS, ids=str)
def test_dense_network_structure(layers):
    d = dense_network(layers)
    assert_valid(d)
    drawn = [n if n <= 10 else 6 for n in layers]  # a layer of 12 is drawn as 5 neurons and an ellipsis
    assert len(d.nodes) == sum(drawn)
    # Layers are columns: count the nodes per x, left to right.
    by_x = Counter(n.x for n in d.nodes)
    assert [by_x[x] for x in sorted(by_x)] == drawn
    columns = sorted(by_x)
    layer_of = {n.id: columns.index(n.x) for n in d.nodes}
    neurons = [n for n in d.nodes if n.label is None]
    members = [{n.id for n in neurons if layer_of[n.id] == i} for i in range(len(layers))]
    for n in neurons:
        li = layer_of[n.id]
        expected = members[li + 1] if li + 1 < len(layers) else set()
        assert set(n.targets) == expected, n
        assert n.shape == "circle"
    shown = [len(m) for m in members]
    assert len(list(d.edges())) == sum(a * b for a, b in zip(shown, shown[1:]))


@pytest.mark.parametrize("layers", LAYER_CONFIGS, ids=str)
def test_dense_network_is_readable(layers):
    d = dense_network(layers)
    r = readability(d)
    assert inside(d)
    assert r.metrics["node_overlap"] == 1.0
    assert r.score >= 4.5, r.metrics


def test_dense_network_palette_and_style():
    palette = PALETTES[1]
    d = dense_network([2, 3, 1], palette, style="solid line")
    assert {n.fill for n in d.nodes[:2]} == {palette.input}
    assert {n.fill for n in d.nodes[2:5]} == {palette.hidden}
    assert d.nodes[-1].fill == palette.output
    assert {n.line_style for n in d.nodes} == {"solid line"}
    assert {n.line_colour for n in d.nodes} == {palette.line}


def test_dense_network_is_deterministic():
    assert dense_network([3, 4, 2]) == dense_network([3, 4, 2])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 10), min_size=2, max_size=6))
def test_dense_network_small_configs_are_readable(layers):
    d = dense_network(layers)
    assert len(d.nodes) == sum(layers)
    assert inside(d)
    assert readability(d).score >= 4.5


# ---------------------------------------------------------------- layer boxes

CNN = [
    Layer("Input 28x28x1", 784, "input"),
    Layer("Conv 3x3, 32", 21632),
    Layer("MaxPool 2x2", 5408),
    Layer("Conv 3x3, 64", 7744),
    Layer("FC 128", 128),
    Layer("Output 10", 10, "output"),
]


def test_layer_boxes_one_box_per_layer_in_order_chained():
    d = layer_boxes(CNN)
    assert_valid(d)
    assert [n.label for n in d.nodes] == [layer.label for layer in CNN]
    xs = [n.x for n in d.nodes]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert [(e.source.label, e.target.label) for e in d.edges()] == list(
        zip([l.label for l in CNN], [l.label for l in CNN][1:])
    )
    assert d.nodes[-1].targets == ()
    assert {n.line_style for n in d.nodes} == {"solid arrow"}
    assert inside(d)


def test_layer_boxes_height_grows_with_layer_size():
    d = layer_boxes(CNN)
    heights = {n.label: n.height for n in d.nodes}
    assert heights["Conv 3x3, 32"] > heights["FC 128"] > heights["Output 10"]


def test_layer_boxes_fills_follow_kinds():
    palette = PALETTES[2]
    d = layer_boxes(CNN, palette, shape="round rectangle")
    assert d.nodes[0].fill == palette.input
    assert d.nodes[-1].fill == palette.output
    assert {n.fill for n in d.nodes[1:-1]} == {palette.hidden}
    assert {n.shape for n in d.nodes} == {"round rectangle"}


@pytest.mark.parametrize("count", [1, 2, 5, 8])
def test_layer_boxes_are_readable(count):
    layers = [Layer(f"Layer {i}", 2**i) for i in range(count)]
    d = layer_boxes(layers)
    assert len(d.nodes) == count
    r = readability(d)
    assert inside(d)
    assert r.metrics["node_overlap"] == 1.0
    assert r.score >= 4.5, r.metrics


# ---------------------------------------------------------------- flowchart

PIPELINE = [
    Step("Raw CSV", "data", (2,)),
    Step("User DB", "database", (2,)),
    Step("Merge", "function", (3,)),
    Step("Clean", "process", (4,)),
    Step("Split", "function", (5, 6)),
    Step("Train set", "data", (7,)),
    Step("Test set", "data", (8,)),
    Step("Random forest", "model", (8,)),
    Step("Evaluate", "process", (9,)),
    Step("Metrics chart", "chart", ()),
]
DATA_ONLY = [
    Step("Images", "picture", (1, 2)),
    Step("Train", "data", (3,)),
    Step("Test", "data", (3,)),
    Step("Store", "database", ()),
]
MIXED = [
    Step("Images", "picture", (1, 2)),
    Step("Resize", "function", (3,)),
    Step("Copy", "data", (3,)),
    Step("Store", "database", ()),
]


def _check_flowchart(steps: list[Step]) -> Diagram:
    d = flowchart(steps)
    assert_valid(d)
    assert len(d.nodes) == len(steps)
    kinds = {i + 1: s.kind for i, s in enumerate(steps)}
    for n, s in zip(d.nodes, steps):
        assert n.label == s.label
        assert (n.shape, n.fill) == NODE_TYPES[s.kind]
        assert n.targets == tuple(t + 1 for t in s.targets)
    for e in d.edges():
        if e.style == "dashed line":
            assert kinds[e.source.id] in DATA_TYPES and kinds[e.target.id] in DATA_TYPES, (e.source.id, e.target.id)
    r = readability(d)
    assert inside(d)
    assert r.metrics["node_overlap"] == 1.0, r.metrics
    return d


def test_flowchart_pipeline():
    d = _check_flowchart(PIPELINE)
    assert {e.style for e in d.edges()} == {"solid arrow"}
    # Columns follow the longest path: every edge points to the right.
    assert all(e.target.x > e.source.x for e in d.edges())
    assert readability(d).score >= 4.5


def test_flowchart_dashed_lines_between_data_nodes():
    d = _check_flowchart(DATA_ONLY)
    assert {e.style for e in d.edges()} == {"dashed line"}


def test_flowchart_data_node_feeding_a_function_is_solid():
    d = _check_flowchart(MIXED)
    styles = {(e.source.id, e.target.id): e.style for e in d.edges()}
    assert styles[(1, 2)] == styles[(1, 3)] == "solid arrow"  # picture -> function and picture -> data
    assert styles[(3, 4)] == "dashed line"  # data -> database


@st.composite
def step_lists(draw) -> list[Step]:
    """Forward-pointing flowcharts of up to 12 steps, at most 6 in a column."""
    count = draw(st.integers(1, 12))
    steps = []
    for i in range(count):
        later = list(range(i + 1, count))
        targets = tuple(sorted(draw(st.lists(st.sampled_from(later), unique=True, max_size=3)))) if later else ()
        steps.append(Step(f"Step {i}", draw(st.sampled_from(sorted(NODE_TYPES))), targets))
    return steps


@settings(max_examples=40, deadline=None)
@given(step_lists())
def test_flowchart_generated(steps):
    d = flowchart(steps)
    per_column = Counter(n.x for n in d.nodes)
    assume(max(per_column.values()) <= 6)
    _check_flowchart(steps)


# ---------------------------------------------------------------- long diagrams (bench/render.py uses 25 nodes)


def test_layer_boxes_25_layers_do_not_overlap():
    d = layer_boxes([Layer(f"Conv {i}", 2 ** (i % 10) * 100) for i in range(25)])
    assert readability(d).metrics["node_overlap"] == 1.0


def test_flowchart_16_step_chain_does_not_overlap():
    steps = [
        Step(f"Step {i}", ("data", "process", "function", "model")[i % 4], (i + 1,) if i < 15 else ())
        for i in range(16)
    ]
    assert readability(flowchart(steps)).metrics["node_overlap"] == 1.0


def test_a_layer_too_large_to_draw_keeps_five_neurons_and_an_ellipsis_with_its_size():
    d = dense_network([3, 784, 2])
    middle = sorted((n for n in d.nodes if 200 <= n.id < 300), key=lambda n: n.y)
    assert [n.id for n in middle] == [201, 202, 203, 200, 204, 205]
    ellipsis = middle[3]
    assert ellipsis.label == "\u2026 784" and ellipsis.targets == ()
    assert all(n.shape == "circle" and n.label is None for n in middle if n is not ellipsis)
    # Every drawn neuron is wired to every drawn neuron of the next layer, never to the ellipsis.
    inputs = [n for n in d.nodes if n.id < 200]
    assert all(n.targets == (201, 202, 203, 204, 205) for n in inputs)
    assert all(n.targets == (301, 302) for n in middle if n is not ellipsis)
