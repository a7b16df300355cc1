"""Agreement between candidates: same structure -> same signature, and the majority ranks first."""

from __future__ import annotations

from dataclasses import replace

from ml.consensus import agreement, signature
from ml.diagram import Diagram
from ml.parser import serialize
from ml.pipeline import run
from training.layouts import PALETTES, Layer, dense_network, layer_boxes


class FixedTexts:
    name = "fixed"

    def __init__(self, texts):
        self.texts = texts

    def generate(self, request, n, seed=None):
        return self.texts[:n]


def _renumbered(diagram: Diagram, offset: int) -> Diagram:
    return Diagram(
        tuple(replace(n, id=n.id + offset, targets=tuple(t + offset for t in n.targets)) for n in diagram.nodes)
    )


def test_signature_ignores_ids_colours_shapes_sizes_and_exact_positions():
    base = dense_network([3, 5, 2])
    restyled = dense_network([3, 5, 2], PALETTES[2], "solid line")
    moved = Diagram(tuple(replace(n, x=n.x + 7, y=n.y + 30, width=30, height=30) for n in base.nodes))
    boxed = Diagram(tuple(replace(n, shape="round rectangle") for n in base.nodes))
    assert signature(base) == signature(_renumbered(base, 1000)) == signature(restyled) == signature(moved)
    assert signature(boxed) == signature(base)


def test_the_same_cnn_in_rectangles_and_rounded_boxes_is_one_structure_with_all_the_votes():
    layers = [Layer("Input", 10, "input"), Layer("Conv 3x3, 16", 100), Layer("Output 10", 10, "output")]
    square, rounded = layer_boxes(layers), layer_boxes(layers, shape="round rectangle")
    wrong = layer_boxes([Layer("Input", 10, "input"), Layer("Conv 3x3, 32", 100), Layer("Output 10", 10, "output")])
    assert agreement([square, square, rounded, rounded, wrong, wrong, wrong]) == [4 / 7] * 4 + [3 / 7] * 3


def test_signature_tells_structures_apart():
    assert signature(dense_network([3, 5, 2])) != signature(dense_network([3, 4, 2]))
    assert signature(dense_network([3, 5, 2])) != signature(dense_network([5, 3, 2]))
    full = dense_network([2, 2])
    one_edge_less = Diagram((replace(full.nodes[0], targets=full.nodes[0].targets[:1]),) + full.nodes[1:])
    assert signature(full) != signature(one_edge_less)
    a = layer_boxes([Layer("Input", 10, "input"), Layer("Conv 3x3, 16", 100), Layer("Output 10", 10, "output")])
    b = layer_boxes([Layer("Input", 10, "input"), Layer("Conv 3x3, 32", 100), Layer("Output 10", 10, "output")])
    assert signature(a) != signature(b)


def test_agreement_is_the_share_with_the_same_structure():
    right, wrong = dense_network([3, 5, 2]), dense_network([3, 4, 2])
    assert agreement([right, wrong, _renumbered(right, 50), right]) == [0.75, 0.25, 0.75, 0.75]
    assert agreement([right]) == [1.0]


def test_the_structure_most_candidates_draw_ranks_first_even_if_less_readable():
    right = dense_network([3, 5, 2])
    # The majority is drawn cramped (less readable); the one-off wrong structure is drawn cleanly.
    cramped = Diagram(tuple(replace(n, x=480 + (n.x - 500) // 20) for n in right.nodes))  # columns overlap
    wrong = dense_network([3, 4, 2])
    texts = [serialize(wrong), serialize(cramped), serialize(_renumbered(cramped, 7)), "not a diagram"]
    result = run("mlp 3-5-2", FixedTexts(texts), n=4)
    assert [c.scores.get("agreement") for c in result.candidates] == [2 / 3, 2 / 3, 1 / 3, None]
    assert result.candidates[2].text == serialize(wrong)
    assert result.candidates[2].scores["final_score"] > result.candidates[0].scores["final_score"]
    assert not result.candidates[3].ok


def test_without_any_agreement_scores_decide():
    a, b = dense_network([3, 5, 2]), dense_network([2, 2])
    squeezed = Diagram(tuple(replace(n, x=480 + n.x // 50) for n in a.nodes))
    result = run("anything", FixedTexts([serialize(squeezed), serialize(b)]), n=2)
    finals = [c.final for c in result.candidates]
    assert finals == sorted(finals, reverse=True)
