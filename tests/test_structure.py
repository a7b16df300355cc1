"""Exact-structure checks: each passes on the reference drawing and fails on each kind of mistake."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ml.diagram import Diagram
from training.layouts import Layer, Step, dense_network, flowchart, layer_boxes
from training.structure import cnn_ok, dense_ok, flowchart_ok, structure_ok

LAYERS = [3, 4, 2]


def _with_targets(diagram: Diagram, nid: int, targets) -> Diagram:
    return Diagram(tuple(replace(n, targets=tuple(targets)) if n.id == nid else n for n in diagram.nodes))


def _without(diagram: Diagram, nid: int) -> Diagram:
    """The diagram less one node, and less every edge into it."""
    return Diagram(
        tuple(replace(n, targets=tuple(t for t in n.targets if t != nid)) for n in diagram.nodes if n.id != nid)
    )


def _transposed(diagram: Diagram) -> Diagram:
    return Diagram(tuple(replace(n, x=n.y, y=n.x) for n in diagram.nodes))


def _node(diagram: Diagram, nid: int):
    return diagram.by_id()[nid]


# ---------------------------------------------------------------- dense


def _numbered_in_order(diagram: Diagram) -> Diagram:
    """The same drawing with node ids 1..n (the checks never depend on how nodes are numbered)."""
    new_id = {n.id: i + 1 for i, n in enumerate(diagram.nodes)}
    return Diagram(
        tuple(replace(n, id=new_id[n.id], targets=tuple(new_id[t] for t in n.targets)) for n in diagram.nodes)
    )


@pytest.fixture
def dense() -> Diagram:
    return _numbered_in_order(dense_network(LAYERS))


def test_dense_ok_whatever_the_numbering():
    assert dense_ok(dense_network(LAYERS), LAYERS)
    assert dense_ok(_numbered_in_order(dense_network(LAYERS)), LAYERS)


@pytest.mark.parametrize("layers", [[1, 1], [2, 3, 1], [3, 4, 2], [6, 10, 10, 4], [1, 8, 8, 8, 1]])
def test_dense_ok_on_reference(layers):
    assert dense_ok(dense_network(layers), layers)
    assert structure_ok(dense_network(layers), "dense", {"layers": layers})


def test_dense_wrong_layer_sizes(dense):
    assert not dense_ok(dense, [3, 3, 2])
    assert not dense_ok(dense, [3, 4, 2, 1])
    assert not dense_ok(dense, [4, 3, 2])


def test_dense_missing_one_edge(dense):
    first = _node(dense, 1)
    broken = _with_targets(dense, 1, first.targets[:-1])
    assert not dense_ok(broken, LAYERS)


def test_dense_missing_edges_of_last_hidden_node(dense):
    hidden = _node(dense, 7)  # last node of the hidden layer (ids 4-7), wired to the outputs 8-9
    assert hidden.targets == (8, 9)
    assert not dense_ok(_with_targets(dense, 7, ()), LAYERS)


@pytest.mark.parametrize("extra", [3, 8, 2])  # same layer, skipping a layer, same layer again
def test_dense_extra_edge(dense, extra):
    first = _node(dense, 1)
    assert extra not in first.targets
    assert not dense_ok(_with_targets(dense, 1, first.targets + (extra,)), LAYERS)


def test_dense_edge_out_of_the_output_layer(dense):
    assert not dense_ok(_with_targets(dense, 9, (4,)), LAYERS)


def test_dense_duplicate_edge(dense):
    first = _node(dense, 1)
    assert not dense_ok(_with_targets(dense, 1, first.targets + (first.targets[0],)), LAYERS)


def test_dense_layer_with_one_node_fewer(dense):
    smaller = _without(dense, 5)  # a hidden neuron
    assert len(smaller.nodes) == sum(LAYERS) - 1
    assert not dense_ok(smaller, LAYERS)
    assert not dense_ok(dense_network([3, 3, 2]), LAYERS)


def test_dense_layer_with_one_node_more():
    assert not dense_ok(dense_network([3, 5, 2]), LAYERS)


def test_dense_drawn_vertically(dense):
    vertical = _transposed(dense)
    assert {n.y for n in vertical.nodes} == {n.x for n in dense.nodes}
    assert dense_ok(vertical, LAYERS)
    assert not dense_ok(_with_targets(vertical, 1, _node(vertical, 1).targets[:-1]), LAYERS)


def test_dense_small_jitter_within_a_layer_is_tolerated(dense):
    jittered = Diagram(tuple(replace(n, x=n.x + (5 if n.id % 2 else -5)) for n in dense.nodes))
    assert dense_ok(jittered, LAYERS)


# ---------------------------------------------------------------- cnn

CNN_LABELS = ["Input 32x32x3", "Conv 3x3, 32", "MaxPool 2x2", "FC 128", "Output 10"]


@pytest.fixture
def cnn() -> Diagram:
    sizes = [3072, 28800, 7200, 128, 10]
    return layer_boxes([Layer(label, size) for label, size in zip(CNN_LABELS, sizes)])


def test_cnn_ok_on_reference(cnn):
    assert cnn_ok(cnn, CNN_LABELS)
    assert structure_ok(cnn, "cnn", {"labels": CNN_LABELS})


def test_cnn_ok_when_nodes_are_listed_out_of_order(cnn):
    assert cnn_ok(Diagram(tuple(reversed(cnn.nodes))), CNN_LABELS)


def test_cnn_swapped_order(cnn):
    swapped = CNN_LABELS[:]
    swapped[1], swapped[2] = swapped[2], swapped[1]
    assert not cnn_ok(cnn, swapped)
    relabelled = Diagram(tuple(replace(n, label=swapped[i]) for i, n in enumerate(cnn.nodes)))
    assert not cnn_ok(relabelled, CNN_LABELS)


def test_cnn_missing_layer(cnn):
    # Drop the pooling box and wire the conv box straight to the FC box.
    shorter = _with_targets(_without(cnn, 3), 2, (4,))
    assert [n.label for n in shorter.nodes] == CNN_LABELS[:2] + CNN_LABELS[3:]
    assert not cnn_ok(shorter, CNN_LABELS)
    assert cnn_ok(shorter, CNN_LABELS[:2] + CNN_LABELS[3:])


def test_cnn_wrong_label(cnn):
    wrong = Diagram(tuple(replace(n, label="Conv 5x5, 32") if n.id == 2 else n for n in cnn.nodes))
    assert not cnn_ok(wrong, CNN_LABELS)
    unlabelled = Diagram(tuple(replace(n, label=None) if n.id == 4 else n for n in cnn.nodes))
    assert not cnn_ok(unlabelled, CNN_LABELS)


def test_cnn_broken_chain(cnn):
    assert not cnn_ok(_with_targets(cnn, 2, ()), CNN_LABELS)  # two pieces
    assert not cnn_ok(_with_targets(cnn, 2, (3, 4)), CNN_LABELS)  # a branch
    assert not cnn_ok(_with_targets(cnn, 5, (1,)), CNN_LABELS)  # a cycle


def test_cnn_labels_are_case_and_whitespace_insensitive(cnn):
    messy = Diagram(tuple(replace(n, label="  " + n.label.upper().replace(" ", "   ") + " ") for n in cnn.nodes))
    assert cnn_ok(messy, CNN_LABELS)
    assert cnn_ok(cnn, [label.lower() for label in CNN_LABELS])


# ---------------------------------------------------------------- flowchart

STEPS = [
    Step("Raw CSV", "data", (2,)),
    Step("User DB", "database", (2,)),
    Step("Clean", "function", (3,)),
    Step("Train", "process", (4, 5)),
    Step("Features", "data", (6,)),
    Step("Labels", "data", (6,)),
    Step("Loss curve", "chart"),
]
NODES = [[s.label, s.kind] for s in STEPS]
EDGES = [[s.label, STEPS[t].label] for s in STEPS for t in s.targets]


@pytest.fixture
def flow() -> Diagram:
    return flowchart(STEPS)


def test_flowchart_ok_on_reference(flow):
    assert flowchart_ok(flow, NODES, EDGES)
    assert structure_ok(flow, "flowchart", {"nodes": NODES, "edges": EDGES})


def test_flowchart_missing_edge(flow):
    node = _node(flow, 4)  # "Train" -> Features, Labels
    assert len(node.targets) == 2
    assert not flowchart_ok(_with_targets(flow, 4, node.targets[:1]), NODES, EDGES)


def test_flowchart_extra_edge(flow):
    assert not flowchart_ok(_with_targets(flow, 7, (1,)), NODES, EDGES)


def test_flowchart_reversed_edge(flow):
    reversed_edge = _with_targets(_with_targets(flow, 3, ()), 4, (3,) + _node(flow, 4).targets)
    assert not flowchart_ok(reversed_edge, NODES, EDGES)


def test_flowchart_renamed_node(flow):
    renamed = Diagram(tuple(replace(n, label="Normalize") if n.label == "Clean" else n for n in flow.nodes))
    assert not flowchart_ok(renamed, NODES, EDGES)


def test_flowchart_missing_node(flow):
    assert not flowchart_ok(_without(flow, 7), NODES, EDGES)


def test_flowchart_labels_are_case_and_whitespace_insensitive(flow):
    messy = Diagram(tuple(replace(n, label=" " + n.label.lower().replace(" ", "  ") + "\t") for n in flow.nodes))
    assert flowchart_ok(messy, NODES, EDGES)
    upper_spec = [[label.upper(), kind] for label, kind in NODES]
    upper_edges = [[a.upper(), b.upper()] for a, b in EDGES]
    assert flowchart_ok(flow, upper_spec, upper_edges)


def test_structure_ok_unknown_family(flow):
    with pytest.raises(ValueError):
        structure_ok(flow, "transformer", {})
